"""Remove exactly what the project created: containers, networks and volumes labelled by it."""

from __future__ import annotations

from dataclasses import dataclass

from evals.sandbox._labels import LABEL, RUN_LABEL


@dataclass
class Removed:
    containers: int = 0
    networks: int = 0
    volumes: int = 0

    def __str__(self) -> str:
        return (
            f"removed {self.containers} container(s), {self.networks} network(s), "
            f"{self.volumes} volume(s)"
        )


def cleanup(run_id: str | None = None) -> Removed:
    """Remove containers, networks and volumes labelled `scheming-evals=1` (only one run's, if
    `run_id` is given). Images are kept: they are a cache, rebuilt only when their context
    changes."""
    import docker
    from docker.errors import APIError, NotFound

    client = docker.from_env()
    filters = {"label": [f"{LABEL}=1"] + ([f"{RUN_LABEL}={run_id}"] if run_id else [])}
    removed = Removed()
    for c in client.containers.list(all=True, filters=filters):
        try:
            c.remove(force=True, v=True)
            removed.containers += 1
        except NotFound:
            pass
    for n in client.networks.list(filters=filters):
        try:
            n.remove()
            removed.networks += 1
        except (NotFound, APIError):
            pass
    for v in client.volumes.list(filters=filters):
        try:
            v.remove(force=True)
            removed.volumes += 1
        except (NotFound, APIError):
            pass
    return removed
