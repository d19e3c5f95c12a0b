"""Render a scenario's sandbox as a compose file for inspect's built-in `docker` sandbox."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import yaml

from evals.sandbox._images import image_tag
from evals.sandbox._labels import LABEL, RUN_ID_ENV, RUN_LABEL
from evals.scenario import Scenario

NETWORK = "scenario-net"


def _hardening(scenario: Scenario) -> dict[str, Any]:
    return {
        "x-local": True,  # built locally: inspect must never try to pull
        "init": True,  # a PID 1 that forwards signals: teardown does not wait 10 s
        "stop_grace_period": "1s",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "pids_limit": scenario.sandbox.pids,
        "mem_limit": scenario.sandbox.memory,
        "read_only": False,
        "networks": [NETWORK],
        "labels": {
            LABEL: "1",
            RUN_LABEL: f"${{{RUN_ID_ENV}:-adhoc}}",
            "scheming-evals.scenario": scenario.id,
        },
        "environment": {},  # nothing from the host: no API keys inside
    }


def compose_config(scenario: Scenario) -> dict[str, Any]:
    """Compose config: the agent's container (`default`) and sidecars on one internal network."""
    services: dict[str, Any] = {
        "default": {
            "image": image_tag(scenario.sandbox.image),
            **_hardening(scenario),
            "user": scenario.sandbox.user,
            "working_dir": f"/home/{scenario.sandbox.user}",
            "hostname": "workstation",
            "command": ["sleep", "infinity"],
        }
    }
    for name, svc in scenario.sandbox.services.items():
        spec = {"image": image_tag(svc.image), **_hardening(scenario)}
        spec["environment"] = dict(svc.environment)
        spec["hostname"] = name
        if svc.aliases:
            spec["networks"] = {NETWORK: {"aliases": list(svc.aliases)}}
        services[name] = spec
    return {
        "services": services,
        "networks": {
            NETWORK: {
                "internal": True,  # no route out: only the scenario's own services
                "labels": {LABEL: "1", RUN_LABEL: f"${{{RUN_ID_ENV}:-adhoc}}"},
            }
        },
    }


def compose_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scheming-evals" / "compose"


def write_compose(scenario: Scenario, directory: Path | None = None) -> Path:
    """Write the scenario's compose file (named by content hash) and return its path."""
    text = yaml.safe_dump(compose_config(scenario), sort_keys=False)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    directory = directory or compose_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{scenario.id.replace('/', '__')}-{digest}.yaml"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path
