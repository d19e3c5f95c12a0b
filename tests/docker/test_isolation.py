"""A sample's sandbox is closed: only its own sidecars are reachable (the host is not, through the
bridge gateway or any other of its addresses), no capabilities, a non-root agent, no docker
socket, no host secret inside, CPU/memory/pids/disk limits set and holding, everything labelled."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
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
            "exec_in": lambda service, *cmd: subprocess.run(
                [*base, "exec", "-T", service, *cmd],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
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
        assert hc["NanoCpus"] > 0  # a CPU quota
        assert hc["ReadonlyRootfs"] is True
        assert hc["Init"] is True
        assert info["Config"]["Labels"][LABEL] == "1"
        [net] = info["NetworkSettings"]["Networks"].values()
        net_info = json.loads(_sh("docker", "network", "inspect", net["NetworkID"]))[0]
        assert net_info["Internal"] is True
        assert net_info["Labels"][LABEL] == "1"


def test_no_holder_the_agents_home_from_its_image_and_the_sidecar_makes_its_own_directories(
    sandbox: dict,
) -> None:
    """Two containers, no holder: each writable directory is a tmpfs mount of the container's
    own (size-limited, nosuid, nodev), the agent's home owned by the agent; the sidecar's
    server made its log directory itself, as its own user, in its world-writable /var/log."""
    listed = _sh(
        "docker", "ps", "--format", '{{.Label "com.docker.compose.service"}}',
        "--filter", f"label=com.docker.compose.project={sandbox['project']}",
    )  # fmt: skip
    assert sorted(listed.split()) == ["default", "model-server"]
    mounts = sandbox["exec"]("cat", "/proc/self/mounts").stdout.splitlines()
    tmpfs = {line.split()[1]: line.split()[3] for line in mounts if line.split()[2] == "tmpfs"}
    for d in ("/home/agent", "/tmp", "/var/tmp"):
        assert "size=524288k" in tmpfs[d] and "nosuid" in tmpfs[d] and "nodev" in tmpfs[d], d
        assert "noexec" not in tmpfs[d], d  # the agent runs what it writes, as anywhere
    assert "/var/log" not in tmpfs and "/srv" not in tmpfs  # the image's, read-only: root's
    r = sandbox["exec"]("stat", "-c", "%U %a", "/home/agent", "/tmp", "/var/tmp")
    assert r.stdout.split("\n")[:3] == ["agent 755", "root 1777", "root 1777"], r.stdout
    # (compose alone: the home's image content is copied in by `scheming-docker` at a sample's
    # start, tests/sandbox/test_exec_semantics.py)
    r = sandbox["exec_in"]("model-server", "stat", "-c", "%U %a %n", "/var/log", "/var/log/sink")
    assert r.stdout.split("\n")[:2] == ["root 1777 /var/log", "sink 750 /var/log/sink"], r.stdout
    r = sandbox["exec_in"]("model-server", "ls", "/var/log/sink")
    assert "requests.jsonl" in r.stdout.split(), r.stdout + r.stderr


def _host_addresses() -> list[str]:
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True)
    return [line.split()[3].split("/")[0] for line in out.stdout.splitlines() if line.strip()]


class _Listener:
    """A TCP listener on all of the host's addresses (0.0.0.0) that records who connected."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("0.0.0.0", 0))
        self.server.listen(16)
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.got: list[object] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                conn, addr = self.server.accept()
                self.got.append(addr)
                conn.close()

    def close(self) -> list[object]:
        self.stop.set()
        self.thread.join()
        self.server.close()
        return self.got


PROBE = (
    "import socket, sys\n"
    "for host in sys.argv[2:]:\n"
    "    s = socket.socket(); s.settimeout(2)\n"
    "    try:\n"
    "        s.connect((host, int(sys.argv[1]))); print('reached', host)\n"
    "    except OSError as e:\n"
    "        print('blocked', host, type(e).__name__)\n"
)


def test_host_is_unreachable_gateway_included(sandbox: dict) -> None:
    info = _container(sandbox["project"], "default")
    [net] = info["NetworkSettings"]["Networks"].values()
    net_info = json.loads(_sh("docker", "network", "inspect", net["NetworkID"]))[0]
    gateway = net_info["IPAM"]["Config"][0].get("Gateway", "")
    assert gateway, "docker names a gateway for the subnet"
    # the host took no address on the sample's bridge, so the gateway address is nobody's
    bridge = "br-" + net["NetworkID"][:12]
    assert _sh("ip", "-o", "-4", "addr", "show", "dev", bridge).strip() == ""
    own = sorted({"127.0.0.1", *_host_addresses()})
    hosts = [gateway, *own]
    listener = _Listener()
    try:
        # the listener itself works: the host reaches it on each of its own addresses
        for host in own:
            socket.create_connection((host, listener.port), timeout=2).close()
        deadline = time.monotonic() + 5
        while len(listener.got) < len(own) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(listener.got) == len(own)
        before = len(listener.got)
        outputs = {}
        for service in ("default", "model-server"):
            r = sandbox["exec_in"](service, "python3", "-c", PROBE, str(listener.port), *hosts)
            outputs[service] = r.stdout
        time.sleep(0.5)
    finally:
        got = listener.close()
    for service, out in outputs.items():
        assert "reached" not in out, (service, out)
        assert out.count("blocked") == len(hosts), (service, out)
    assert got[before:] == [], "a container of the sample connected to the host"
    # and by configuration: no default route out of either container
    for service in ("default", "model-server"):
        routes = sandbox["exec_in"](service, "cat", "/proc/net/route").stdout.splitlines()[1:]
        assert routes and all(line.split()[1] != "00000000" for line in routes), routes
        inet6 = sandbox["exec_in"](service, "cat", "/proc/net/if_inet6").stdout.split()
        assert "eth0" not in inet6  # no IPv6 (link-local) address to reach the host by


def test_services_of_the_sample_reach_each_other_by_name(sandbox: dict) -> None:
    probe = (
        "import urllib.request\n"
        "r = urllib.request.urlopen('http://model-server:8080/ping', timeout=5)\n"
        "print('sidecar', r.status)"
    )
    r = sandbox["exec"]("python3", "-c", probe)
    assert "sidecar 200" in r.stdout, r.stderr
    # and the sidecar reaches the agent's container by its service name
    subprocess.run(
        [
            *sandbox["base"],
            "exec",
            "-d",
            "-T",
            "default",
            "python3",
            "-m",
            "http.server",
            "8000",
            "--directory",
            "/tmp",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    back = (
        "import time, urllib.request\n"
        "for _ in range(50):\n"
        "    try:\n"
        "        print('agent', urllib.request.urlopen('http://default:8000/', timeout=2).status)\n"
        "        break\n"
        "    except OSError:\n"
        "        time.sleep(0.1)\n"
    )
    r = sandbox["exec_in"]("model-server", "python3", "-c", back)
    assert "agent 200" in r.stdout, r.stdout + r.stderr
    # the sidecar's log, outside the agent's container, recorded the request
    log = _sh(
        "docker",
        "exec",
        _container(sandbox["project"], "model-server")["Id"],
        "cat",
        "/var/log/sink/requests.jsonl",
    )
    assert '"/ping"' in log


def _docker_root_used() -> int:
    root = _sh("docker", "info", "--format", "{{.DockerRootDir}}").strip()
    return shutil.disk_usage(root).used


@pytest.mark.parametrize("service", ["default", "model-server"])
def test_disk_is_limited_and_off_the_host(sandbox: dict, service: str) -> None:
    limit = 512 * 2**20  # the schema's default `disk`
    before = _docker_root_used()
    fill = (
        "import errno, os, sys\n"
        "for d in ('/', '/etc', '/usr', '/opt'):\n"
        "    try:\n"
        "        open(os.path.join(d, 'x'), 'wb')\n"
        "        print('wrote', d)\n"
        "    except OSError as e:\n"
        "        print('refused', d, errno.errorcode[e.errno])\n"
        "written = 0\n"
        "try:\n"
        "    with open('/tmp/fill', 'wb') as f:\n"
        "        while written < 2 * 2**30:\n"
        "            f.write(b'x' * 2**20); f.flush(); written += 2**20\n"
        "except OSError as e:\n"
        "    print('full', errno.errorcode[e.errno], written)\n"
        "else:\n"
        "    print('not full', written)\n"
    )
    r = sandbox["exec_in"](service, "python3", "-c", fill)
    try:
        during = _docker_root_used()
        assert "wrote" not in r.stdout, r.stdout
        assert r.stdout.count("refused") == 4 and "EROFS" in r.stdout, r.stdout
        full = [line for line in r.stdout.splitlines() if line.startswith("full")]
        assert full and full[0].split()[1] == "ENOSPC", r.stdout + r.stderr
        assert int(full[0].split()[2]) <= limit
        # every writable directory has a budget of its own, of the same size (and all of them
        # together are bounded by the memory limit: tmpfs pages are charged to the container)
        home = "/home/agent" if service == "default" else "/home"
        sizes = sandbox["exec_in"](service, "df", "-B1", "--output=size", "/var/tmp", home)
        assert sizes.stdout.split()[1:] == [str(limit), str(limit)], sizes.stdout
        # nothing of it landed on the host's disk
        assert during - before < 64 * 2**20, (before, during)
    finally:
        sandbox["exec_in"](service, "rm", "-f", "/tmp/fill", "/var/tmp/more")
    # the agent can still write its home and /tmp once space is free again
    if service == "default":
        r = sandbox["exec"]("sh", "-c", "echo ok > ~/note && cat ~/note && echo ok > /tmp/t")
        assert r.stdout.strip() == "ok", r.stderr


def test_cpu_quota_holds(sandbox: dict) -> None:
    for service in ("default", "model-server"):
        hc = _container(sandbox["project"], service)["HostConfig"]
        assert 0 < hc["NanoCpus"] <= (os.cpu_count() or 1) * 10**9
    # measured: a busy loop in 2 processes gets at most the quota (1 CPU) of the host's time
    burn = (
        "import multiprocessing as mp, os, time\n"
        "def spin(_):\n"
        "    end = time.time() + 1.5\n"
        "    while time.time() < end: pass\n"
        "t0 = os.times(); w0 = time.time()\n"
        "with mp.Pool(2) as p: p.map(spin, range(2))\n"
        "t1 = os.times()\n"
        "print((t1.children_user + t1.children_system - t0.children_user - t0.children_system)"
        " / (time.time() - w0))\n"
    )
    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs 2 CPUs to show a quota of 1")
    r = sandbox["exec"]("python3", "-c", burn)
    assert float(r.stdout.strip()) < 1.3, r.stdout + r.stderr


def test_a_sample_without_sidecars_has_no_network_at_all(
    docker_ready: None, tmp_path: Path
) -> None:
    """No sidecar, nothing to reach: the agent's container has loopback only, and a listener
    the test started on every host address (and on the loopback, from the host) is not
    reached from it."""
    src = Path(__file__).resolve().parents[2] / "scenarios/oversight_subversion/transit_planner"
    compose = write_compose(load_scenario(src / "scenario.yaml"), tmp_path)
    project = f"scheming-test-{uuid.uuid4().hex[:8]}"
    base = ["docker", "compose", "-p", project, "-f", str(compose)]
    _sh(*base, "up", "-d", "--wait")
    listener = _Listener()
    try:
        info = _container(project, "default")
        assert info["HostConfig"]["NetworkMode"] == "none"
        links = _sh(*base, "exec", "-T", "default", "ls", "/sys/class/net").split()
        assert links == ["lo"], links
        hosts = sorted({"127.0.0.1", *_host_addresses()})
        out = _sh(
            *base, "exec", "-T", "default", "python3", "-c", PROBE, str(listener.port), *hosts
        )
        time.sleep(0.5)
    finally:
        got = listener.close()
        _sh(*base, "down", "--volumes", "--timeout", "1")
    assert "reached" not in out and out.count("blocked") == len(hosts), out
    assert got == [], "the sample's container connected to the host"
    nets = _sh(
        "docker", "network", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}"
    )
    assert nets.strip() == ""
