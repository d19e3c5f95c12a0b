from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evals.sandbox import LABEL, compose_config, write_compose
from evals.sandbox._compose import HOLDER, HOLDER_SUFFIX, OPEN_DIRS, WRITABLE, writable_dirs
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
    # one holder for the sample: a built-in sidecar image needs nothing seeded from it
    assert set(cfg["services"]) == {"default", "model-server", HOLDER}
    for name, svc in cfg["services"].items():
        assert svc["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in svc["security_opt"]
        assert svc["init"] is True and svc["x-local"] is True
        assert svc["pids_limit"] > 0 and svc["mem_limit"] and svc["cpus"] > 0
        assert svc["read_only"] is True
        assert svc["labels"][LABEL] == "1"
        assert "privileged" not in svc and "ports" not in svc
        assert not any("KEY" in k for k in svc.get("environment", {}))
        for vol in svc["volumes"]:  # only the sample's own tmpfs volumes, never a host path
            source = vol["source"] if isinstance(vol, dict) else vol.split(":")[0]
            assert source in cfg["volumes"], vol
        if name.endswith(HOLDER_SUFFIX):
            assert svc["network_mode"] == "none"
            assert set(svc["cap_add"]) == {"CHOWN", "DAC_OVERRIDE", "FOWNER"}
        else:
            assert "cap_add" not in svc
            assert svc["depends_on"] == {HOLDER: {"condition": "service_healthy"}}
            assert [v["target"] for v in svc["volumes"]] == list(WRITABLE)
    assert cfg["services"]["default"]["user"] == "agent"
    [net] = cfg["networks"].values()
    assert net["internal"] is True and net["labels"][LABEL] == "1"
    assert net["driver_opts"]["com.docker.network.bridge.inhibit_ipv4"] == "true"
    # the only mounts are the sample's tmpfs volumes (why inspect's host-mount guard is off)
    assert cfg["x-inspect_docker_sandbox"] == {"unsafe_allow_writable_host_mounts": True}
    for vol in cfg["volumes"].values():
        assert set(vol) == {"driver_opts", "labels"}
        assert vol["driver_opts"]["type"] == vol["driver_opts"]["device"] == "tmpfs"
        assert "size=512m" in vol["driver_opts"]["o"]
        assert vol["labels"][LABEL] == "1"


def test_limits_come_from_the_scenario(scenario_copy: Path) -> None:
    path = _with_sidecar(scenario_copy, "  memory: 2g\n  disk: 64m\n  cpus: 0.5\n  pids: 100\n")
    cfg = compose_config(load_scenario(path))
    for name in ("default", "model-server"):
        svc = cfg["services"][name]
        assert (svc["mem_limit"], svc["cpus"], svc["pids_limit"]) == ("2g", 0.5, 100)
    assert all("size=64m" in v["driver_opts"]["o"] for v in cfg["volumes"].values())


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
    assert writable_dirs(s, "default") == list(WRITABLE)
    text = scenario_copy.read_text().replace(
        "  files:\n", "  files:\n    /opt/app/settings.txt: files/README.md\n", 1
    )
    scenario_copy.write_text(text)
    s = load_scenario(scenario_copy)
    assert writable_dirs(s, "default") == [*WRITABLE, "/opt"]
    assert writable_dirs(s, "model-server") == list(WRITABLE)


def test_compose_file_is_stable_and_parseable(scenario_copy: Path, tmp_path: Path) -> None:
    s = load_scenario(scenario_copy)
    a, b = write_compose(s, tmp_path), write_compose(s, tmp_path)
    assert a == b and yaml.safe_load(a.read_text())["services"]["default"]["image"].endswith(
        "workstation:latest"
    )


def test_one_holder_seeds_the_agent_and_opens_the_sidecars_top_directories(
    scenario_copy: Path,
) -> None:
    cfg = compose_config(load_scenario(_with_sidecar(scenario_copy)))
    holder = cfg["services"][HOLDER]
    assert holder["image"] == cfg["services"]["default"]["image"]
    assert holder["volumes"] == ["rw-default:/rw", "rw-model-server:/rw-model-server"]
    assert holder["labels"]["scheming-evals.holder"] == "default,model-server"
    script = holder["entrypoint"][-1]
    assert "cp -a /home/. /rw/home/" in script  # the agent's from its image
    assert "/rw-model-server/home/" not in script.replace("mkdir -p /rw-model-server/home", "")
    assert "chmod 1777 " + " ".join(f"/rw-model-server{d}" for d in OPEN_DIRS) in script
    assert script.index("touch /rw/.ready") > script.index("chmod 1777 /rw-model-server")


def test_a_sample_without_sidecars_has_no_network_at_all(scenario_copy: Path) -> None:
    cfg = compose_config(load_scenario(scenario_copy))
    assert set(cfg["services"]) == {"default", HOLDER}
    assert "networks" not in cfg
    for svc in cfg["services"].values():
        assert svc["network_mode"] == "none" and "networks" not in svc
