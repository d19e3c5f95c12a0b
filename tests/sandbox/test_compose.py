from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evals.sandbox import LABEL, compose_config, write_compose
from evals.sandbox._compose import (
    HOLDER_SUFFIX,
    WRITABLE,
    writable_dirs,
)
from evals.sandbox._labels import RENDERED_KEY, SEED_KEY
from evals.scenario import ScenarioError, load_scenario


def _with_sidecar(scenario_copy: Path, extra: str = "") -> Path:
    text = scenario_copy.read_text().replace(
        "  user: agent\n",
        f"  user: agent\n{extra}  services:\n    model-server: {{image: sink}}\n",
        1,
    )
    scenario_copy.write_text(text)
    return scenario_copy


def test_compose_is_closed_by_default(scenario_copy: Path) -> None:
    cfg = compose_config(load_scenario(_with_sidecar(scenario_copy)))
    # no holder: built-in images' writable directories are tmpfs mounts of their own
    assert set(cfg["services"]) == {"default", "model-server"}
    assert cfg[RENDERED_KEY] is True
    for svc in cfg["services"].values():
        assert svc["cap_drop"] == ["ALL"] and "cap_add" not in svc
        assert "no-new-privileges:true" in svc["security_opt"]
        assert svc["init"] is True and svc["x-local"] is True
        assert svc["pids_limit"] > 0 and svc["mem_limit"] and svc["cpus"] > 0
        assert svc["read_only"] is True
        assert svc["labels"][LABEL] == "1"
        assert "privileged" not in svc and "ports" not in svc
        assert not any("KEY" in k for k in svc.get("environment", {}))
        assert "volumes" not in svc and "depends_on" not in svc  # no mount of anything else
        assert svc["tmpfs"][0] == "/run:size=16m,mode=0755"
    default, sidecar = cfg["services"]["default"], cfg["services"]["model-server"]
    assert default["tmpfs"][1:] == [
        "/home/agent:size=512m,mode=0755,uid=1000,gid=1000,exec",
        "/tmp:size=512m,mode=1777,exec",
        "/var/tmp:size=512m,mode=1777,exec",
    ]
    assert default[SEED_KEY] == ["/home/agent"]  # its image's content, copied in at the start
    assert [t.split(":")[0] for t in sidecar["tmpfs"][1:]] == list(WRITABLE)
    assert SEED_KEY not in sidecar
    assert default["user"] == "agent"
    [net] = cfg["networks"].values()
    assert net["internal"] is True and net["labels"][LABEL] == "1"
    assert net["driver_opts"]["com.docker.network.bridge.inhibit_ipv4"] == "true"
    # no volume at all, so inspect's host-mount guard stays on
    assert "volumes" not in cfg and "x-inspect_docker_sandbox" not in cfg


def test_limits_come_from_the_scenario(scenario_copy: Path) -> None:
    path = _with_sidecar(scenario_copy, "  memory: 2g\n  disk: 64m\n  cpus: 0.5\n  pids: 100\n")
    cfg = compose_config(load_scenario(path))
    for name in ("default", "model-server"):
        svc = cfg["services"][name]
        assert (svc["mem_limit"], svc["cpus"], svc["pids_limit"]) == ("2g", 0.5, 100)
        assert all(":size=64m," in t for t in svc["tmpfs"][1:])


@pytest.mark.parametrize(
    "line, message",
    [
        ("memory: 999999g", "sandbox.memory: memory 999999g is outside 64m..8g"),
        ("memory: 9g", "outside 64m..8g"),
        ("memory: 1t", "sandbox.memory"),
        ("disk: 99g", "sandbox.disk: disk 99g is outside 16m..8g"),
        ("disk: 1k", "outside 16m..8g"),
        ("cpus: 64", "sandbox.cpus"),
        ("cpus: 0", "sandbox.cpus"),
        ("pids: 1000000", "sandbox.pids"),
    ],
)
def test_limits_are_bounded(scenario_copy: Path, line: str, message: str) -> None:
    text = scenario_copy.read_text().replace("  user: agent\n", f"  user: agent\n  {line}\n", 1)
    scenario_copy.write_text(text)
    with pytest.raises(ScenarioError) as ex:
        load_scenario(scenario_copy)
    assert len(ex.value.problems) == 1
    [problem] = ex.value.problems
    assert message in str(problem) and "\n" not in str(problem)


def test_planted_files_outside_the_writable_dirs_get_their_top_dir(scenario_copy: Path) -> None:
    s = load_scenario(scenario_copy)
    agent = ["/home/agent", "/tmp", "/var/tmp"]
    assert writable_dirs(s, "default") == agent
    text = scenario_copy.read_text().replace(
        "  files:\n", "  files:\n    /opt/app/settings.txt: files/README.md\n", 1
    )
    scenario_copy.write_text(text)
    s = load_scenario(scenario_copy)
    assert writable_dirs(s, "default") == [*agent, "/opt"]
    assert writable_dirs(s, "model-server") == list(WRITABLE)
    # the agent's user plants it: the top directory is the agent's
    [opt] = [t for t in compose_config(s)["services"]["default"]["tmpfs"] if t.startswith("/opt")]
    assert opt == "/opt:size=512m,mode=0755,uid=1000,gid=1000,exec"


def test_compose_file_is_stable_and_parseable(scenario_copy: Path, tmp_path: Path) -> None:
    s = load_scenario(scenario_copy)
    a, b = write_compose(s, tmp_path), write_compose(s, tmp_path)
    assert a == b and yaml.safe_load(a.read_text())["services"]["default"]["image"].endswith(
        "workstation:latest"
    )


def test_a_packs_own_image_keeps_a_holder_seeded_from_it(scenario_copy: Path) -> None:
    """A pack's own image may hold what its server needs in those directories: its service's
    writable area is a tmpfs volume that a holder (`<service>_rw`) seeds from that image."""
    s = load_scenario(_with_sidecar(scenario_copy))
    sidecar = s.sandbox.services["model-server"].model_copy(update={"image": "acme/sink"})
    s = s.model_copy(
        update={"sandbox": s.sandbox.model_copy(update={"services": {"model-server": sidecar}})}
    )
    cfg = compose_config(s)
    holder = cfg["services"]["model-server" + HOLDER_SUFFIX]
    svc = cfg["services"]["model-server"]
    assert holder["image"] == svc["image"]
    assert holder["volumes"] == ["rw-model-server:/rw"]
    assert holder["labels"]["scheming-evals.holder"] == "model-server"
    assert holder["network_mode"] == "none"
    assert set(holder["cap_add"]) == {"CHOWN", "DAC_OVERRIDE", "FOWNER"}
    assert "cp -a /var/log/. /rw/var/log/" in holder["entrypoint"][-1]
    assert svc["depends_on"] == {"model-server" + HOLDER_SUFFIX: {"condition": "service_healthy"}}
    assert [v["target"] for v in svc["volumes"]] == list(WRITABLE)
    assert svc["tmpfs"] == ["/run:size=16m,mode=0755"]
    # the only mounts are the sample's tmpfs volumes (why inspect's host-mount guard is off)
    assert cfg["x-inspect_docker_sandbox"] == {"unsafe_allow_writable_host_mounts": True}
    [vol] = cfg["volumes"].values()
    assert set(vol) == {"driver_opts", "labels"}
    assert vol["driver_opts"]["type"] == vol["driver_opts"]["device"] == "tmpfs"
    assert "size=512m" in vol["driver_opts"]["o"] and vol["labels"][LABEL] == "1"
    # the agent's (built-in) keeps its tmpfs mounts
    assert "volumes" not in cfg["services"]["default"]


def test_a_sample_without_sidecars_has_no_network_at_all(scenario_copy: Path) -> None:
    cfg = compose_config(load_scenario(scenario_copy))
    assert set(cfg["services"]) == {"default"}
    assert "networks" not in cfg
    for svc in cfg["services"].values():
        assert svc["network_mode"] == "none" and "networks" not in svc
