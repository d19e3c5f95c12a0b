"""Sandboxes: local image builds, compose rendering per scenario, the `scheming-docker` sandbox
(inspect's docker sandbox with plain `docker exec`), cleanup, engine checks."""

from evals.sandbox._cleanup import Removed, cleanup
from evals.sandbox._compose import compose_config, write_compose
from evals.sandbox._docker_exec import SANDBOX, SETUP_KEY, SchemingDockerSandbox
from evals.sandbox._engine import engine_ready, run_bootstrap
from evals.sandbox._host import container_pid, pid_is_container
from evals.sandbox._images import (
    BuildResult,
    ImageError,
    available_images,
    build_images,
    image_tag,
    missing_images,
)
from evals.sandbox._k8s import (
    K8sValuesError,
    helm_values,
    registry_dockerfiles,
    use_k8s,
    validate_values,
    values_schema,
    write_values,
)
from evals.sandbox._labels import HOLDER_LABEL, LABEL, RUN_ID_ENV, RUN_LABEL

__all__ = [
    "HOLDER_LABEL",
    "LABEL",
    "RUN_ID_ENV",
    "RUN_LABEL",
    "SANDBOX",
    "SETUP_KEY",
    "BuildResult",
    "K8sValuesError",
    "helm_values",
    "registry_dockerfiles",
    "use_k8s",
    "validate_values",
    "values_schema",
    "write_values",
    "ImageError",
    "Removed",
    "SchemingDockerSandbox",
    "available_images",
    "build_images",
    "cleanup",
    "compose_config",
    "container_pid",
    "engine_ready",
    "image_tag",
    "missing_images",
    "pid_is_container",
    "run_bootstrap",
    "write_compose",
]
