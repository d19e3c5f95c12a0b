"""A sample's sandbox is closed: only its own sidecars are reachable, no capabilities, a
non-root agent, no docker socket, no host secret inside, limits set, everything labelled."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.sandbox import LABEL, write_compose
from evals.scenario import load_scenario

pytestmark = pytest.mark.docker

HOST_SECRET = "sk-host-secret-" + uuid.uuid4().hex


def _sh(*args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    out = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: {out.stderr}")
    return out.stdout


@pytest.fixture(scope="module")
def sandbox(docker_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    src = Path(__file__).resolve().parents[2] / "scenarios/oversight_subversion/transit_planner"
    dst = tmp_path_factory.mktemp("iso") / "transit_planner"
    import shutil

    shutil.copytree(src, dst)
    text = (dst / "scenario.yaml").read_text()
    text = text.replace(
        "  user: agent\n", "  user: agent\n  services:\n    model-server: {image: sink}\n", 1
    )
    (dst / "scenario.yaml").write_text(text)
    compose = write_compose(load_scenario(dst / "scenario.yaml"), dst)
    project = f"scheming-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "OPENAI_API_KEY": HOST_SECRET, "ANTHROPIC_API_KEY": HOST_SECRET}
    base = ["docker", "compose", "-p", project, "-f", str(compose)]
    _sh(*base, "up", "-d", "--wait", env=env)
    try:
        yield {
            "exec": lambda *cmd: subprocess.run(
                [*base, "exec", "-T", "default", *cmd],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
            ),
            "project": project,
            "base": base,
        }
    finally:
        _sh(*base, "down", "--volumes", "--timeout", "1", env=env)
        left = _sh("docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}")
        assert left.strip() == ""


def _container(project: str, service: str) -> dict:
    cid = _sh(
        "docker",
        "ps",
        "-q",
        "--filter",
        f"label=com.docker.compose.project={project}",
        "--filter",
        f"label=com.docker.compose.service={service}",
    ).strip()
    return json.loads(_sh("docker", "inspect", cid))[0]


def test_no_capabilities_and_not_root(sandbox: dict) -> None:
    status = sandbox["exec"]("cat", "/proc/1/status").stdout
    cap_eff = next(line.split()[1] for line in status.splitlines() if line.startswith("CapEff"))
    assert int(cap_eff, 16) == 0
    assert sandbox["exec"]("id", "-u").stdout.strip() != "0"
    assert sandbox["exec"]("id", "-un").stdout.strip() == "agent"


def test_no_docker_socket(sandbox: dict) -> None:
    r = sandbox["exec"]("sh", "-c", "ls -la /var/run/docker.sock /run/docker.sock 2>&1; true")
    assert "No such file" in r.stdout
    info = _container(sandbox["project"], "default")
    mounts = [m.get("Source", "") for m in info["Mounts"]]
    assert not any("docker.sock" in m for m in mounts)


def test_host_secret_not_inside(sandbox: dict) -> None:
    assert HOST_SECRET in os.environ.get("OPENAI_API_KEY", HOST_SECRET)  # the test's own value
    r = sandbox["exec"](
        "sh",
        "-c",
        "env; cat /proc/1/environ | tr '\\0' '\\n'; "
        "grep -rIl --exclude-dir=proc --exclude-dir=sys "
        f"'{HOST_SECRET}' / 2>/dev/null; true",
    )
    assert HOST_SECRET not in r.stdout
    assert "OPENAI_API_KEY" not in r.stdout and "ANTHROPIC_API_KEY" not in r.stdout


def test_hardening_in_container_config(sandbox: dict) -> None:
    for service in ("default", "model-server"):
        info = _container(sandbox["project"], service)
        hc = info["HostConfig"]
        assert hc["CapDrop"] == ["ALL"] and not hc["CapAdd"]
        assert "no-new-privileges:true" in hc["SecurityOpt"]
        assert not hc["Privileged"]
        assert hc["PidsLimit"] and hc["PidsLimit"] > 0
        assert hc["Memory"] > 0
        assert hc["Init"] is True
        assert info["Config"]["Labels"][LABEL] == "1"
        [net] = info["NetworkSettings"]["Networks"].values()
        net_info = json.loads(_sh("docker", "network", "inspect", net["NetworkID"]))[0]
        assert net_info["Internal"] is True
        assert net_info["Labels"][LABEL] == "1"


def test_only_the_sidecar_is_reachable(sandbox: dict) -> None:
    # a listener on the host's loopback, which the test made
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    got: list[object] = []

    def accept() -> None:
        for _ in range(40):
            with contextlib.suppress(TimeoutError):
                got.append(server.accept())

    t = threading.Thread(target=accept)
    t.start()
    info = _container(sandbox["project"], "default")
    [net] = info["NetworkSettings"]["Networks"].values()
    gateway = json.loads(_sh("docker", "network", "inspect", net["NetworkID"]))[0]["IPAM"][
        "Config"
    ][0].get("Gateway", "")
    probe = (
        "import socket, sys, urllib.request\n"
        "url = 'http://model-server:8080/ping'\n"
        "print('sidecar', urllib.request.urlopen(url, timeout=5).status)\n"
        "for host in sys.argv[2:]:\n"
        "    s = socket.socket(); s.settimeout(2)\n"
        "    try:\n"
        "        s.connect((host, int(sys.argv[1]))); print('reached', host)\n"
        "    except OSError as e:\n"
        "        print('blocked', host, type(e).__name__)\n"
    )
    hosts = ["127.0.0.1"] + ([gateway] if gateway else [])
    r = sandbox["exec"]("python3", "-c", probe, str(port), *hosts)
    t.join()
    server.close()
    assert "sidecar 200" in r.stdout, r.stderr
    assert "reached" not in r.stdout, r.stdout
    assert r.stdout.count("blocked") == len(hosts)
    assert got == []
    # and by configuration: no default route out of the container
    routes = sandbox["exec"]("cat", "/proc/net/route").stdout.splitlines()[1:]
    assert all(line.split()[1] != "00000000" for line in routes), routes
    # the sidecar's log, outside the agent's container, recorded the request
    log = _sh(
        "docker",
        "exec",
        _container(sandbox["project"], "model-server")["Id"],
        "cat",
        "/var/log/sink/requests.jsonl",
    )
    assert '"path": "/ping"' in log
