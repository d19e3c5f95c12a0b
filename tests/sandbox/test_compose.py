from __future__ import annotations

from pathlib import Path

import yaml

from evals.sandbox import LABEL, compose_config, write_compose
from evals.scenario import load_scenario


def test_compose_is_closed_by_default(scenario_copy: Path) -> None:
    text = scenario_copy.read_text().replace(
        "  user: agent\n", "  user: agent\n  services:\n    model-server: {image: sink}\n", 1
    )
    scenario_copy.write_text(text)
    cfg = compose_config(load_scenario(scenario_copy))
    assert set(cfg["services"]) == {"default", "model-server"}
    for svc in cfg["services"].values():
        assert svc["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in svc["security_opt"]
        assert svc["init"] is True and svc["x-local"] is True
        assert svc["pids_limit"] > 0 and svc["mem_limit"]
        assert svc["labels"][LABEL] == "1"
        assert "volumes" not in svc and "privileged" not in svc and "ports" not in svc
        assert not any("KEY" in k for k in svc.get("environment", {}))
    assert cfg["services"]["default"]["user"] == "agent"
    [net] = cfg["networks"].values()
    assert net["internal"] is True and net["labels"][LABEL] == "1"


def test_compose_file_is_stable_and_parseable(scenario_copy: Path, tmp_path: Path) -> None:
    s = load_scenario(scenario_copy)
    a, b = write_compose(s, tmp_path), write_compose(s, tmp_path)
    assert a == b and yaml.safe_load(a.read_text())["services"]["default"]["image"].endswith(
        "workstation:latest"
    )
