"""A scenario's sandbox as values for the Helm chart of `inspect-k8s-sandbox` (`--sandbox k8s`).

The values are converted from the same compose config the docker path runs
(`compose_config`), service by service, so both paths share one description of a sample:
- **Services**: the agent's container (`default`) and each sidecar become chart services (one
  pod each), on one chart network; sidecars get a DNS record and their compose aliases.
- **No egress**: the chart's Cilium network policy with nothing allowed (no domains, entities
  or CIDRs): a pod reaches only the other pods of its own sample.
- **Hardening**: `securityContext` non-root (the numeric uid of the service's user, read from
  its Dockerfile: a kubelet cannot check a user name), every capability dropped, no privilege
  escalation, read-only root file system, the runtime's default seccomp profile; the gVisor
  runtime class by default.
- **Limits**: CPU and memory limits equal to requests (Guaranteed QoS) from the scenario.
- **Writable areas**: the compose file's holder services (`*_rw`) have no counterpart: each
  writable directory is an `emptyDir` in memory (`medium: Memory`, `sizeLimit` = the scenario's
  `disk`, counted in the pod's memory limit as tmpfs pages are under docker), seeded at start
  from the copy the registry image keeps in `SEED_DIR` (see `registry_dockerfile`).
- **Labels**: `scheming-evals=1`, the run id and the scenario, on every object of the release.

Nothing here talks to a cluster; docs/kubernetes.md says what was and was not run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from evals.sandbox._compose import HOLDER_SUFFIX, NETWORK, compose_config, writable_dirs
from evals.sandbox._docker_exec import SETUP_KEY
from evals.sandbox._images import _dockerfile_chain, _instructions, image_uid, image_user
from evals.sandbox._labels import IMAGE_PREFIX, LABEL, RUN_ID_ENV, RUN_LABEL
from evals.scenario import Scenario, image_context, image_key

RUNTIME_CLASS = "gvisor"
"""The chart's default runtime class: each pod in its own gVisor user-space kernel."""
SEED_DIR = "/scheming-seed"
"""In a registry image: a copy of the image's writable directories, copied onto the pod's
empty in-memory volumes when the container starts."""
_SCENARIO_LABEL = "scheming-evals.scenario"
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class K8sValuesError(ValueError):
    """A scenario whose sandbox cannot be expressed as valid chart values (one line: the
    scenario, the field, what is wrong)."""


def _error(scenario: Scenario, field: str, message: str) -> K8sValuesError:
    return K8sValuesError(f"{scenario.id}: k8s values: {field}: {message}")


def k8s_quantity(size: str) -> str:
    """A docker size ('512m', '1g', '64k': powers of 1024) as a Kubernetes quantity."""
    return size[:-1] + {"k": "Ki", "m": "Mi", "g": "Gi"}[size[-1].lower()]


def _label_value(text: str) -> str:
    """A Kubernetes label value (63 characters of [A-Za-z0-9-_.]) standing for `text`."""
    value = re.sub(r"[^A-Za-z0-9_.-]", ".", text)
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        value = "h-" + hashlib.sha256(text.encode()).hexdigest()[:16]
    return value


def _volume_name(directory: str) -> str:
    return "rw" + re.sub(r"[^a-z0-9]+", "-", directory.lower()).rstrip("-")


def image_command(image: str) -> list[str] | None:
    """The image's command (`ENTRYPOINT` + `CMD`, exec form), None when its Dockerfiles set
    none that can be read."""
    entry: list[str] | None = None
    cmd: list[str] | None = None
    for path in _dockerfile_chain(image):
        for word, arg in _instructions(path):
            if word not in ("CMD", "ENTRYPOINT"):
                continue
            try:
                parsed = json.loads(arg)
            except ValueError:
                parsed = ["/bin/sh", "-c", arg]  # shell form
            if not (isinstance(parsed, list) and all(isinstance(p, str) for p in parsed)):
                continue
            if word == "CMD" and cmd is None:
                cmd = parsed
            elif word == "ENTRYPOINT" and entry is None:
                entry = parsed
        if cmd is not None or entry is not None:
            break  # the nearest Dockerfile that sets them wins
    if entry is None and cmd is None:
        return None
    return (entry or []) + (cmd or [])


def seed_command(dirs: list[str], command: list[str]) -> list[str]:
    """`command`, after copying the registry image's seed of each writable dir onto its
    (empty, in-memory) volume."""
    steps = []
    for d in dirs:
        src, dst = shlex.quote(SEED_DIR + d), shlex.quote(d)
        steps.append(f"if [ -d {src} ]; then cp -R {src}/. {dst}/; fi")
    script = "; ".join(steps + ['exec "$@"'])
    return ["/bin/sh", "-c", script, "seed", *command]


def registry_dockerfile(image: str, dirs: list[str]) -> str:
    """The Dockerfile of `image`'s registry build: the local image plus `SEED_DIR`, a copy of
    the directories that are empty volumes under k8s."""
    user = image_user(image)
    copies = " && ".join(
        f"if [ -d {shlex.quote(d)} ]; then mkdir -p {shlex.quote(SEED_DIR + d)}"
        f" && cp -a {shlex.quote(d)}/. {shlex.quote(SEED_DIR + d)}/; fi"
        for d in dirs
    )
    return (
        f"FROM {IMAGE_PREFIX}{image}:latest\n"
        "USER 0\n"
        f"RUN mkdir -p {SEED_DIR} && {copies}\n"
        f"USER {user}\n"
    )


def _images(scenario: Scenario) -> dict[str, str]:
    """Service name -> image key (a pack's own images under its namespace)."""
    return {"default": image_key(scenario, scenario.sandbox.image)} | {
        n: image_key(scenario, s.image) for n, s in scenario.sandbox.services.items()
    }


def _hardening(uid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _service(
    scenario: Scenario,
    name: str,
    spec: dict[str, Any],
    image: str,
    *,
    registry: str,
    runtime_class: str,
) -> dict[str, Any]:
    field = f"services.{name}"
    user = str(spec.get("user") or image_user(image))
    uid = image_uid(image, user)
    if uid is None:
        raise _error(
            scenario,
            f"{field}.securityContext.runAsUser",
            f"no numeric uid for user '{user}' in {image_context(image) / 'Dockerfile'} "
            "(give it `useradd --uid N`)",
        )
    if uid == 0:
        raise _error(scenario, f"{field}.securityContext", f"image '{image}' runs as root")
    command = spec.get("command") or image_command(image)
    if not command:
        raise _error(scenario, f"{field}.command", f"image '{image}' sets no CMD")
    dirs = writable_dirs(scenario, name) + ["/run"]
    size = k8s_quantity(scenario.sandbox.disk)
    volumes = [
        {
            "name": _volume_name(d),
            "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi" if d == "/run" else size},
        }
        for d in dirs
    ]
    mounts = [{"name": _volume_name(d), "mountPath": d} for d in dirs]
    cpu = str(scenario.sandbox.cpus)
    memory = k8s_quantity(scenario.sandbox.memory)
    out: dict[str, Any] = {
        "image": f"{registry.rstrip('/')}/{spec['image']}",
        "imagePullPolicy": "IfNotPresent",
        "runtimeClassName": runtime_class,
        "command": seed_command(dirs, [str(c) for c in command]),
        "networks": [NETWORK],
        "dnsRecord": name != "default",
        "env": [{"name": k, "value": str(v)} for k, v in (spec.get("environment") or {}).items()],
        "resources": {
            "limits": {"cpu": cpu, "memory": memory},
            "requests": {"cpu": cpu, "memory": memory},
        },
        "securityContext": _hardening(uid),
        "volumes": volumes,
        "volumeMounts": mounts,
    }
    if spec.get("working_dir"):
        out["workingDir"] = spec["working_dir"]
    aliases = (
        (spec.get("networks") or {}).get(NETWORK, {})
        if isinstance(spec.get("networks"), dict)
        else {}
    )
    if aliases and aliases.get("aliases"):
        out["additionalDnsRecords"] = list(aliases["aliases"])
    return out


def helm_values(
    scenario: Scenario,
    *,
    registry: str,
    runtime_class: str = RUNTIME_CLASS,
    run_id: str | None = None,
) -> dict[str, Any]:
    """The chart values of the scenario's sandbox, converted from its compose config.
    Raises K8sValuesError (one line naming scenario and field) when it cannot be expressed."""
    if not registry.strip():
        raise _error(scenario, "image", "no registry given (--registry REGISTRY)")
    compose = compose_config(scenario)
    images = _images(scenario)
    services: dict[str, Any] = {}
    for name, spec in compose["services"].items():
        if name.endswith(HOLDER_SUFFIX):
            continue  # docker's writable-area holders: emptyDir volumes under k8s
        services[name] = _service(
            scenario, name, spec, images[name], registry=registry, runtime_class=runtime_class
        )
    run = run_id or os.environ.get(RUN_ID_ENV) or "adhoc"
    labels = {
        LABEL: "1",
        RUN_LABEL: _label_value(run),
        _SCENARIO_LABEL: _label_value(scenario.id),
    }
    return {
        "global": {"nameOverride": "", "fullnameOverride": ""},
        "services": services,
        "networks": {NETWORK: {}},
        "networkPolicy": {"enabled": True},  # Cilium: only this sample's pods are reachable
        "allowDomains": [],
        "allowDomainsPorts": [],
        "allowEntities": [],
        "allowCIDR": [],
        "automountServiceAccountToken": False,
        "labels": labels,
        "annotations": {"scheming-evals/scenario": scenario.id},
    }


@cache
def values_schema() -> dict[str, Any]:
    """The values schema shipped with the chart inside the installed `inspect_k8s_sandbox`."""
    chart = resources.files("k8s_sandbox") / "resources" / "helm" / "agent-env"
    schema = json.loads((chart / "values.schema.json").read_text())
    if not isinstance(schema, dict):
        raise K8sValuesError("k8s_sandbox's values.schema.json is not an object")
    return schema


def validate_values(scenario: Scenario, values: dict[str, Any]) -> None:
    """Check `values` against the chart's schema; raises K8sValuesError for the first
    problem (one line: scenario, the field's path, the schema's message)."""
    import jsonschema

    validator = jsonschema.Draft7Validator(values_schema())
    errors = sorted(validator.iter_errors(values), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.absolute_path) or "(top level)"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise _error(scenario, where, first.message[:300] + more)


def values_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scheming-evals" / "k8s"


def write_values(
    scenario: Scenario,
    *,
    registry: str,
    runtime_class: str = RUNTIME_CLASS,
    directory: Path | None = None,
) -> Path:
    """Convert, validate and write the scenario's chart values (named by content hash)."""
    values = helm_values(scenario, registry=registry, runtime_class=runtime_class)
    validate_values(scenario, values)
    text = yaml.safe_dump(values, sort_keys=False)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    directory = directory or values_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{scenario.id.replace('/', '__')}-{digest}.yaml"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # test workers may write it at once
        tmp.write_text(text)
        tmp.replace(path)
    return path


def k8s_sandbox(scenario: Scenario, *, registry: str, runtime_class: str = RUNTIME_CLASS) -> Any:
    """inspect's sandbox spec for the scenario under `inspect-k8s-sandbox` (the `k8s` extra)."""
    from inspect_ai.util import SandboxEnvironmentSpec
    from k8s_sandbox import K8sSandboxEnvironmentConfig

    path = write_values(scenario, registry=registry, runtime_class=runtime_class)
    return SandboxEnvironmentSpec(
        "k8s", K8sSandboxEnvironmentConfig(values=path, default_user=scenario.sandbox.user)
    )


def registry_dockerfiles(scenarios: list[Scenario]) -> dict[str, str]:
    """Per image the scenarios use: the Dockerfile of its registry build, seeding every
    directory any of those scenarios mounts as an empty volume."""
    dirs: dict[str, list[str]] = {}
    for scenario in scenarios:
        for name, image in _images(scenario).items():
            seen = dirs.setdefault(image, [])
            seen.extend(d for d in writable_dirs(scenario, name) if d not in seen)
    return {image: registry_dockerfile(image, sorted(d)) for image, d in sorted(dirs.items())}


def use_k8s(
    samples: Any, scenarios: list[Scenario], *, registry: str, runtime_class: str = RUNTIME_CLASS
) -> None:
    """Point every sample of a built `scheming` task at its scenario's k8s sandbox (the task
    builds docker specs; this swaps them, converting each scenario once), the setup script back
    in `Sample.setup` where the k8s sandbox runs it."""
    by_id = {s.id: s for s in scenarios}
    specs: dict[str, Any] = {}
    for sample in samples:
        scenario_id = (sample.metadata or {}).get("scenario")
        scenario = by_id.get(scenario_id) if isinstance(scenario_id, str) else None
        if scenario is None:
            raise K8sValuesError(f"sample {sample.id}: no scenario '{scenario_id}' to convert")
        if scenario.id not in specs:
            specs[scenario.id] = k8s_sandbox(
                scenario, registry=registry, runtime_class=runtime_class
            )
        sample.sandbox = specs[scenario.id]
        if SETUP_KEY in (sample.metadata or {}):  # the k8s sandbox runs inspect's Sample.setup
            sample.setup = sample.metadata.pop(SETUP_KEY)
