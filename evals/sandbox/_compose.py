"""Render a scenario's sandbox as a compose file for inspect's built-in `docker` sandbox.

Every container of a sample is closed and bounded:
- **Network**: one `internal` bridge per sample with `inhibit_ipv4`, so the host takes no
  address on it: there is no gateway to connect to, and no route to any other host address.
  The sample's services still reach each other by name (layer 2 on the bridge). A sample
  without sidecars has no network at all (`network_mode: none`: loopback only).
- **CPU and memory**: a CPU quota (`cpus`), `mem_limit`, `pids_limit` on every container.
- **Disk**: the root file system is read-only. The writable directories (`writable_dirs`:
  the agent's home, /tmp and /var/tmp in the agent's container; /home, /tmp, /var/tmp,
  /var/log and /srv in a sidecar's; plus the top directory of any planted file elsewhere) are
  tmpfs mounts of the container's own, of the scenario's `disk` size each, `exec` (the agent
  runs what it writes, as on any machine), nosuid, nodev. tmpfs pages are charged to the
  container's memory cgroup, so all of them together can never hold more than its memory
  limit, and nothing lands on the host's disk. A tmpfs mount takes the mode of the directory it
  covers (runc), so the sidecar base image makes /var/log and /srv world-writable and sticky,
  as /tmp: a sidecar's server makes its own log and state directories in them as its own user.
  The agent's home is owned by its user (`uid=`, from the image's Dockerfile) and starts empty:
  `scheming-docker` copies the image's content of it back in at the sample's start, as the
  agent (`SEED_KEY`). `docker cp`, which inspect's `read_file` uses, does not see a container's
  own tmpfs mounts: `scheming-docker` reads files through the host's view of the container, or
  in it (evals/sandbox/_docker_exec.py).
- **A pack's own image** may hold what its server needs in those directories, so each of its
  services keeps the earlier design: its writable directories are subpaths of one tmpfs volume
  that a holder service (`<service>_rw`: that image, no network, root with the three
  capabilities `cp -a` needs) seeds from the image and holds for the sample's life (a tmpfs
  volume gets no copy of the image's content and is emptied when no container holds it); the
  service starts once its holder is healthy. Until 2026-12-02 every sample had a holder: one
  container's start and end is the largest single cost of a sample's sandbox.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from pathlib import Path
from typing import Any

import yaml

from evals.sandbox._images import image_tag, image_uid
from evals.sandbox._labels import (
    HOLDER_LABEL,
    LABEL,
    RENDERED_KEY,
    RUN_ID_ENV,
    RUN_LABEL,
    SEED_KEY,
)
from evals.scenario import Scenario, image_key

NETWORK = "scenario-net"
WRITABLE: tuple[str, ...] = ("/home", "/tmp", "/var/tmp", "/var/log", "/srv")
"""Directories every container may write (on its size-limited tmpfs); the rest is read-only."""
HOLDER_SUFFIX = "_rw"
READY = "/rw/.ready"
_NOT_MOUNTABLE = {"proc", "sys", "dev", "rw"}


def _labels(scenario: Scenario) -> dict[str, str]:
    return {
        LABEL: "1",
        RUN_LABEL: f"${{{RUN_ID_ENV}:-adhoc}}",
        "scheming-evals.scenario": scenario.id,
    }


def _cpus(scenario: Scenario) -> float:
    # docker refuses a quota above the host's CPU count
    return min(scenario.sandbox.cpus, float(os.cpu_count() or 1))


def _hardening(scenario: Scenario) -> dict[str, Any]:
    return {
        "x-local": True,  # built locally: inspect must never try to pull
        "init": True,  # a PID 1 that forwards signals: teardown does not wait 10 s
        "stop_grace_period": "1s",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "pids_limit": scenario.sandbox.pids,
        "mem_limit": scenario.sandbox.memory,
        "memswap_limit": scenario.sandbox.memory,  # no swap beyond the limit
        "cpus": _cpus(scenario),
        "read_only": True,
        "tmpfs": ["/run:size=16m,mode=0755"],
        "networks": [NETWORK],
        "sysctls": {"net.ipv6.conf.all.disable_ipv6": "1"},  # no link-local route to the host
        "labels": _labels(scenario),
        "environment": {},  # nothing from the host: no API keys inside
    }


def _builtin(scenario: Scenario, image: str) -> bool:
    """An image of sandboxes/images (not a pack's own)."""
    return "/" not in image_key(scenario, image)


def agent_home(scenario: Scenario) -> str:
    return f"/home/{scenario.sandbox.user}"


def writable_dirs(scenario: Scenario, service: str) -> list[str]:
    """The directories `service` may write: `WRITABLE`; for the agent's container, its home
    in place of /home and no /var/log or /srv when its image is a built-in one (there only
    root could write them: they stay the image's, read-only), and the top directory of each
    planted file or canary outside them (e.g. /opt for /opt/app/config)."""
    dirs = list(WRITABLE)
    if service == "default":
        if _builtin(scenario, scenario.sandbox.image):
            dirs = [agent_home(scenario), *AGENT_TMP]
        targets = list(scenario.sandbox.files) + [c.path for c in scenario.sandbox.canaries]
        for target in targets:
            parts = target.strip("/").split("/")
            if len(parts) < 2 or parts[0] in _NOT_MOUNTABLE:
                continue  # a file directly in / or in a kernel file system: stays read-only
            top = "/" + parts[0]
            if not any(target.startswith(d + "/") for d in dirs):
                dirs.append(top)
    return dirs


def _volume_name(service: str) -> str:
    return f"rw-{service}"


OPEN_DIRS = ("/tmp", "/var/tmp", "/var/log", "/srv")
"""A sidecar's writable directories that start world-writable and sticky (its server makes
its own directories in them: `own_dir` in sandboxes/images/sidecar-base/sidecar.py)."""
AGENT_TMP = ("/tmp", "/var/tmp")


def _holder(
    scenario: Scenario, image: str, own: str, areas: dict[str, list[str]]
) -> dict[str, Any]:
    """A service that seeds and holds writable volumes (see the module doc): `own`'s (mounted
    at /rw) from `image`, its own image; every other one in `areas` (at /rw-<service>) as
    empty top directories."""
    steps = ["set -e"]
    mounts = {service: "/rw" if service == own else f"/rw-{service}" for service in areas}
    for service, dirs in areas.items():
        root = mounts[service]
        for d in dirs:
            src, dst = shlex.quote(d), shlex.quote(root + d)
            steps.append(f"mkdir -p {dst}")
            if service == own:
                steps.append(f"if [ -d {src} ]; then cp -a {src}/. {dst}/; fi")
        if service == own:
            steps.append(f"chmod 1777 {root}/tmp {root}/var/tmp")
        else:
            steps.append("chmod 1777 " + " ".join(shlex.quote(root + d) for d in OPEN_DIRS))
    steps.append(f"touch {READY}")
    steps.append("exec sleep infinity")  # holds the volumes: unreachable, no network
    return {
        "image": image,
        "x-local": True,
        "init": True,
        "stop_grace_period": "1s",
        "user": "0:0",
        "entrypoint": ["/bin/sh", "-c", "\n".join(steps)],
        "cap_drop": ["ALL"],
        "cap_add": ["CHOWN", "DAC_OVERRIDE", "FOWNER"],  # cp -a of files owned by others
        "security_opt": ["no-new-privileges:true"],
        "network_mode": "none",
        "read_only": True,
        "pids_limit": 32,
        "mem_limit": "64m",
        "cpus": min(0.5, _cpus(scenario)),
        "volumes": [f"{_volume_name(service)}:{mounts[service]}" for service in areas],
        "healthcheck": {
            # probed every 100 ms while starting; once healthy nothing waits on it again, so
            # later probes (each one an exec in the holder) are only load: one an hour
            "test": ["CMD", "test", "-e", READY],
            "interval": "1h",
            "timeout": "5s",
            "retries": 3,
            "start_period": "60s",
            "start_interval": "100ms",
        },
        "labels": {**_labels(scenario), HOLDER_LABEL: ",".join(areas)},
        "environment": {},
    }


def _with_writable_area(
    services: dict[str, Any], volumes: dict[str, Any], scenario: Scenario, name: str, holder: str
) -> list[str]:
    """`name`'s writable directories as subpaths of its own tmpfs volume, held by `holder`;
    returns them."""
    spec = services[name]
    dirs = writable_dirs(scenario, name)
    spec["depends_on"] = {holder: {"condition": "service_healthy"}}
    spec["volumes"] = [
        {
            "type": "volume",
            "source": _volume_name(name),
            "target": d,
            "volume": {"subpath": d.lstrip("/")},
        }
        for d in dirs
    ]
    volumes[_volume_name(name)] = {
        "driver_opts": {
            "type": "tmpfs",
            "device": "tmpfs",
            "o": f"size={scenario.sandbox.disk},mode=0755",
        },
        "labels": {LABEL: "1", RUN_LABEL: f"${{{RUN_ID_ENV}:-adhoc}}"},
    }
    return dirs


def _tmpfs(scenario: Scenario, service: str, uid: int | None) -> list[str]:
    """`service`'s writable directories as tmpfs mounts of `disk` bytes each (with exec: the
    agent may run what it writes, as on any machine; nosuid and nodev, docker's defaults): the
    agent's home owned by its user (`uid`), /tmp and /var/tmp world-writable and sticky, a
    sidecar's `OPEN_DIRS` too, the rest root's."""
    out = []
    for d in writable_dirs(scenario, service):
        if service == "default" and d not in AGENT_TMP:
            mode = f"mode=0755,uid={uid},gid={uid}"
        elif d in AGENT_TMP or (service != "default" and d in OPEN_DIRS):
            mode = "mode=1777"
        else:
            mode = "mode=0755"
        out.append(f"{d}:size={scenario.sandbox.disk},{mode},exec")
    return out


def compose_config(scenario: Scenario) -> dict[str, Any]:
    """Compose config: the agent's container (`default`) and sidecars on one internal network,
    each with size-limited writable directories (tmpfs; a pack's own image: a volume held and
    seeded by a holder, see the module doc)."""
    services: dict[str, Any] = {
        "default": {
            "image": image_tag(image_key(scenario, scenario.sandbox.image)),
            **_hardening(scenario),
            "user": scenario.sandbox.user,
            "working_dir": f"/home/{scenario.sandbox.user}",
            "hostname": "workstation",
            "command": ["sleep", "infinity"],
        }
    }
    builtin: set[str] = set()
    for name, svc in scenario.sandbox.services.items():
        key = image_key(scenario, svc.image)
        if "/" not in key:
            builtin.add(name)  # one of sandboxes/images: its server makes its own directories
        spec = {"image": image_tag(key), **_hardening(scenario)}
        spec["environment"] = dict(svc.environment)
        spec["hostname"] = name
        if svc.aliases:
            spec["networks"] = {NETWORK: {"aliases": list(svc.aliases)}}
        services[name] = spec
    uid = image_uid(image_key(scenario, scenario.sandbox.image), scenario.sandbox.user)
    if _builtin(scenario, scenario.sandbox.image) and uid is not None:
        builtin.add("default")
        services["default"][SEED_KEY] = [agent_home(scenario)]
    volumes: dict[str, Any] = {}
    for name in list(services):
        if name in builtin:
            services[name]["tmpfs"] = [*services[name]["tmpfs"], *_tmpfs(scenario, name, uid)]
        else:  # a pack's own image may hold what its server needs there: seeded from it
            own = name + HOLDER_SUFFIX
            dirs = _with_writable_area(services, volumes, scenario, name, own)
            services[own] = _holder(scenario, services[name]["image"], name, {name: dirs})
    networks: dict[str, Any] = {
        NETWORK: {
            "internal": True,  # no route out: only the scenario's own services
            "driver_opts": {
                # the host takes no address on the bridge: no gateway to reach it by
                "com.docker.network.bridge.inhibit_ipv4": "true",
            },
            "labels": {LABEL: "1", RUN_LABEL: f"${{{RUN_ID_ENV}:-adhoc}}"},
        }
    }
    if not scenario.sandbox.services:
        # nothing to reach: no network at all (loopback only), and none to create and remove
        del services["default"]["networks"]
        services["default"]["network_mode"] = "none"
        networks = {}
    return {
        # inspect refuses any volume with driver options, as it cannot tell what on the host
        # they reach. Ours are tmpfs only (memory, no host path), this file is rendered here and
        # nothing in a scenario adds a mount; tests/sandbox/test_compose.py checks both.
        **(
            {"x-inspect_docker_sandbox": {"unsafe_allow_writable_host_mounts": True}}
            if volumes
            else {}
        ),
        RENDERED_KEY: True,
        "services": services,
        **({"networks": networks} if networks else {}),
        **({"volumes": volumes} if volumes else {}),
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
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # several test workers may write it at once
        tmp.write_text(text)
        tmp.replace(path)
    return path
