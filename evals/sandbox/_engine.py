"""Is this machine ready to run sandboxes? (engine, compose v2, base image)"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def bootstrap_script() -> Path:
    from evals.scenario import project_root

    return project_root() / "sandboxes" / "bootstrap.sh"


def run_bootstrap() -> int:
    """Install what is missing (engine, compose v2), start the daemon, build the base image."""
    script = bootstrap_script()
    if not script.is_file():
        print(f"error: {script} not found", flush=True)
        return 1
    return subprocess.call(["bash", str(script)], env=os.environ.copy())


def engine_ready() -> str | None:
    """None when docker answers and compose v2 is present, else what is wrong."""
    try:
        import docker

        docker.from_env().ping()
    except Exception as ex:  # noqa: BLE001 - any failure means "not ready"
        return f"no Docker engine answers ({type(ex).__name__}); run `scheming setup`"
    try:
        out = subprocess.run(
            ["docker", "compose", "version", "--short"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return "docker compose v2 not found; run `scheming setup`"
    if out.returncode != 0:
        return "docker compose v2 not found; run `scheming setup`"
    return None
