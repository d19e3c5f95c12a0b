"""`scheming-docker`: inspect's docker sandbox with fewer docker CLI calls per sample.

inspect's `docker` sandbox runs every exec as `docker compose exec`, which loads and validates
the compose project each time (≈ 83 ms of client CPU against ≈ 17 ms for `docker exec`, see
bench/README.md), and brings a sample up and down with compose calls that add nothing for the
compose files this project renders itself. This subclass keeps inspect's semantics and makes
fewer, cheaper calls:

- **exec** (and so inspect's `write_file`, which is built on it) is `docker exec -i` on the
  service's container id, with inspect's semantics unchanged: working directory (relative to
  the service's), user, environment, stdin, the in-container `timeout -k 5s` wrapper with the
  host timeout 10 s above it, the 10 MiB output limit (`OutputLimitExceededError`), exit codes,
  and a dead container reported as `SandboxUnavailableError`.
  tests/sandbox/test_exec_semantics.py compares the two.
- **sample_init**: inspect's project creation, its cleanup registration (`project_startup`: an
  interrupted run still brings the project down at the task's end) and `compose up --wait`
  (for a rendered file without healthchecks `compose up --detach`: compose's wait only looks
  whether each container runs, 0.5 s after the start, its poll interval), then one `docker
  inspect` of the project's containers (by compose's `<project>-<service>-1` names,
  checked against their labels; `docker ps` by project label if a name does not answer) for
  each service's state, exit code, name and working directory, right after the start and again
  once the setup ran and the sidecars listen. It replaces inspect's `compose
  config` (the service list is read from the file this project rendered; another file still
  goes through `compose config` and inspect's mount checks), `compose ps` twice (running,
  exited) and one `compose exec pwd` per service. The same checks and errors: a service that
  is neither running nor exited 0 fails the sample (naming it, with its exit code, its log tail
  and compose up's stderr), so does a project without a default service.
- **the sample's setup script** (`SETUP_KEY` in the sample's metadata, put there by
  `evals.tasks.with_plans`) runs at the end of `sample_init`, where inspect runs
  `Sample.setup` (before any file copy and solver), in one exec on stdin, instead of inspect's
  five (`mkdir`, write, `chmod`, run, `rm`): as the container's default user under bash, with
  inspect's timeout and errors. A `Sample.setup` still runs inspect's way.
- **connection()** from the known container: one `docker inspect`, not `compose ps` + `docker
  inspect` (inspect's task runner asks every service for it once per sample).
- **sample_cleanup**: `docker rm -f` of the containers `sample_init` found and `docker network
  rm` of the project's own networks, where that is all `compose down --volumes` would remove
  (no docker volume in any container; else, or if either call fails, compose down), and
  without inspect's `compose config --images` image cleanup, which only removes images compose
  built under the project's own name (ours are built by `scheming setup` under
  `scheming-evals/` and never removed by a sample). An interrupted sample is left to
  inspect's task cleanup (compose down), as inspect does.

- **the agent's home** (`SEED_KEY` in the rendered compose file): a tmpfs mount, empty at
  start; the image's content of it is copied back in as the first step of the setup exec, as
  the container's default user (its owner), modes and times kept. The content is read once per
  image and process (`docker run … tar -c`).
- **root access**: where a container's capabilities settle it (every one dropped, neither
  CAP_SETUID nor CAP_SETGID added), the verdict inspect's root probe would reach is recorded
  from `docker inspect` and inspect runs no probe exec.
- **sidecars listening before the agent acts**: after the setup exec, each sidecar is waited
  for until it listens on every TCP port its image EXPOSEs (its sockets read from the host,
  else from inside it), at most `READY_TIMEOUT` s; one that never does errors the sample. A
  sidecar's server starts a moment after its container, and the agent's first command could
  reach it first (a refused connection: measured, two reference replays in a full suite).
- **read_file**: the writable directories are tmpfs mounts of the container's own, which `docker
  compose cp` does not see. A file is read through the host's view of the container
  (`/proc/<pid>/root`, every path component opened without following a symlink; as `docker
  cp`, whatever its mode), else in the container (as root, then as the service's user), with
  inspect's size limit and errors.

The task-level hooks are inspect's.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import io
import json
import os
import re
import shlex
import tarfile
import time
import weakref
from dataclasses import dataclass
from logging import getLogger
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

# inspect-evals-lint: ignore[IECQ001] -- the sample whose project this is (as inspect's init)
from inspect_ai.log._samples import sample_active
from inspect_ai.util import (
    ExecResult,
    OutputLimitExceededError,
    SandboxConnection,
    SandboxEnvironment,
    SandboxEnvironmentConfigType,
    SandboxEnvironmentLimits,
    SandboxUnavailableError,
    sandboxenv,
    subprocess,
)

# inspect-evals-lint: ignore[IECQ001] -- the project's cleanup registry (interrupted runs)
from inspect_ai.util._sandbox.docker.cleanup import cleanup_state, project_startup

# inspect-evals-lint: ignore[IECQ001] -- compose up and down exactly as inspect runs them
from inspect_ai.util._sandbox.docker.compose import (
    compose_command,
    compose_services,
    compose_up,
)

# inspect-evals-lint: ignore[IECQ001] -- the class to subclass has no public export
from inspect_ai.util._sandbox.docker.docker import (
    DockerSandboxEnvironment,
    parse_docker_inspect_ports,
    resolve_config_environment,
)

# inspect-evals-lint: ignore[IECQ001] -- the same failure classification as inspect's exec
from inspect_ai.util._sandbox.docker.failure import InjectedWrapper, classify_exec_failure

# inspect-evals-lint: ignore[IECQ001] -- the project naming and record inspect's cleanup knows
from inspect_ai.util._sandbox.docker.util import ComposeProject, task_project_name

# inspect-evals-lint: ignore[IECQ001] -- the root-access verdict inspect records per sandbox
from inspect_ai.util._sandbox.environment import RootAccess
from typing_extensions import override

from evals.sandbox._host import TooLarge, container_pid, host_read, report_pid
from evals.sandbox._labels import (
    HOLDER_LABEL,
    LABEL,
    RENDERED_KEY,
    RUN_ID_ENV,
    RUN_LABEL,
    SEED_KEY,
)

logger = getLogger(__name__)

SETUP_TIMEOUT = 300
"""Seconds a sample's setup script may run: inspect's default (its constant is private)."""
SANDBOX = "scheming-docker"
"""The name `SandboxEnvironmentSpec` selects this sandbox by."""
SETUP_KEY = "sandbox_setup"
"""Sample metadata key: the sample's setup script, run by this sandbox in one exec at the end of
`sample_init` (`evals.tasks.with_plans` moves `Sample.setup` here)."""

_SERVICE_LABEL = "com.docker.compose.service"
_PROJECT_LABEL = "com.docker.compose.project"
_GONE = re.compile(
    r"^Error response from daemon: (No such container: \S+|container \S+ is not running)",
    re.MULTILINE,
)
"""What `docker exec` says for a container that was removed or stopped (compose's own wording,
which inspect's classifier knows, is `service "x" is not running`)."""
_TIMEOUT_RETRIES = 2
"""As inspect's compose commands: a host-side timeout (a hung CLI, not the command's own
timeout, which the in-container wrapper reports) is retried twice when the caller allows."""
_DOWN_TIMEOUT = 300
"""inspect's `compose down` process timeout."""
_UP_TIMEOUT = 600
"""inspect's `compose up` process timeout without healthchecks (`COMPOSE_WAIT`)."""
_PROBE_TIMEOUT = 60
_LOG_TAIL = 20
_LOG_LIMIT = 4096
_RUN_SETUP = 'script=$(cat) || exit 1\neval "$script"'
"""The setup script arrives on stdin, read whole before it runs (a command in it that reads
stdin gets end-of-file, as under inspect, rather than the rest of the script)."""
_READ_CHUNK = 6 * 1024 * 1024
"""Bytes of a file per exec on the exec path: their base64 stays under inspect's 10 MiB exec
output limit."""
_READ_SCRIPT = """f=$1
[ -e "$f" ] || { echo "No such file or directory" >&2; exit 2; }
[ -d "$f" ] && { echo "Is a directory" >&2; exit 21; }
[ -r "$f" ] || { echo "Permission denied" >&2; exit 13; }
stat -L -c %s -- "$f" || exit 1
tail -c +"$2" -- "$f" | head -c "$3" | base64 -w0
"""
"""A file's size, then the base64 of `$3` bytes of it from byte `$2` (1-based); exit 2, 13,
21 for missing, unreadable, a directory."""
_SEED_TIMEOUT = 120
"""Seconds the `docker run` that reads an image's home content may take."""


@dataclass(frozen=True)
class _Container:
    """One compose service's container, as `docker inspect` saw it after `compose up`."""

    id: str
    name: str
    status: str
    exit_code: int
    working_dir: str
    pid: int = 0
    """The host pid of its init (0 when not running)."""
    ports: str = "null"
    """`NetworkSettings.Ports` as docker reported it (JSON text)."""
    holder: bool = False
    """A writable-area holder (`scheming-evals.holder` label): started and checked, no sandbox."""
    exposed: tuple[int, ...] = ()
    """The TCP ports its image EXPOSEs: a sidecar is ready when it listens on all of them."""
    root_caps: str = ""
    """Why root in it cannot switch users, from its capability settings (`docker inspect`'s
    HostConfig); empty when it may (or the settings were not read): then inspect probes."""
    networks: tuple[str, ...] = ()
    """The networks it is attached to (`NetworkSettings.Networks`)."""
    volumes: bool = True
    """Whether anything but a tmpfs is mounted in it (`Mounts`: a docker volume, a bind; True
    when not read): then compose down removes the project."""


@sandboxenv(name=SANDBOX)
class SchemingDockerSandbox(DockerSandboxEnvironment):
    """inspect's docker sandbox with execs as plain `docker exec` on the service's container
    and a sample's start, setup and end in fewer docker calls."""

    @override
    @classmethod
    async def sample_init(
        cls,
        task_name: str,
        config: SandboxEnvironmentConfigType | None,
        metadata: dict[str, str],
    ) -> dict[str, SandboxEnvironment]:
        # as inspect: sample metadata interpolated into the compose file, one project per sample
        resolved = resolve_config_environment(config, metadata)
        active = sample_active()
        project = await ComposeProject.create(
            name=task_project_name(task_name),
            config=config,
            sample_id=active.sample.id if active is not None else None,
            epoch=active.epoch if active is not None else None,
            env=resolved.env if resolved is not None else {},
        )
        # registered before anything starts: an interrupted run brings it down at task end
        project_startup(project)
        try:
            services, rendered = await _services(project)
            if rendered and not _health_waits(services):
                up = await _up_detached(project)
            else:
                up = await compose_up(project, services)
            containers = await _look(project, services)
            environments = await _environments(cls, project, services, containers, up)
            default = next(iter(environments.values()))
            seed = await _seed(services.get(default.as_type(cls)._service) or {})
            setup = seed + str(metadata.get(SETUP_KEY) or "")
            try:
                if setup:
                    await _run_setup(default, setup)
                # the agent's first act must not race a sidecar's start (a refused connection)
                for env in list(environments.values())[1:]:
                    ours = env.as_type(cls)
                    await _listening(ours, containers[ours._service].exposed)
            except Exception:
                # a service that died meanwhile is the cause to report
                await _environments(cls, project, services, await _look(project, services), up)
                raise
            # every service again, after the setup and the sidecars' start: one that died
            # meanwhile fails the sample as one that died before (and one that exited 0 gets
            # no sandbox), as compose's --wait does when it looks, 0.5 s after the start
            containers = await _look(project, services)
            environments = await _environments(cls, project, services, containers, up)
            default = next(iter(environments.values()))
            default.as_type(cls)._teardown = _teardown(project.name, containers)
        except BaseException:
            await _down(project)
            raise
        return environments

    @override
    @classmethod
    async def sample_cleanup(
        cls,
        task_name: str,
        config: SandboxEnvironmentConfigType | None,
        environments: dict[str, SandboxEnvironment],
        interrupted: bool,
    ) -> None:
        # as inspect: an interrupted sample is brought down by the task's cleanup
        if not interrupted:
            first = next(iter(environments.values())).as_type(DockerSandboxEnvironment)
            teardown = getattr(first, "_teardown", None)
            if teardown is None or not await _remove(teardown):
                await _down(first._project)
            else:
                _forget(first._project)

    def __init__(
        self,
        service: str,
        project: ComposeProject,
        working_dir: str,
        *,
        container: str,
        name: str | None = None,
        ports: str | None = None,
    ) -> None:
        super().__init__(service, project, working_dir)
        self._container = container
        self._name = name or container
        self._initial = ports
        """The ports (JSON) `sample_init`'s inspect reported: the first `connection()`
        (inspect's task runner asks every sandbox once, right after sample_init) is answered
        from them."""
        self._teardown: _Teardown | None = None
        """What `sample_cleanup` removes directly (the default service's sandbox holds it)."""

    @override
    async def connection(self, *, user: str | None = None) -> SandboxConnection:
        """As inspect's, from the known container: the first from what `sample_init`'s
        `docker inspect` reported (the container was running then), every later one a `docker
        inspect` of its own (name, state, ports). A container that is not running, or a docker
        that does not answer, is a `ConnectionError`, which inspect's callers skip."""
        initial, self._initial = self._initial, None
        if initial is not None:
            return self._connection(initial, user)
        try:
            result = await subprocess(
                [
                    "docker",
                    "inspect",
                    "--type",
                    "container",
                    "--format",
                    "{{.State.Running}} {{json .NetworkSettings.Ports}}",
                    self._container,
                ],
                timeout=_PROBE_TIMEOUT,
            )
        except TimeoutError:
            raise ConnectionError(
                f"docker inspect of service '{self._service}' timed out"
            ) from None
        running, _, ports = result.stdout.strip().partition(" ")
        if not result.success or running != "true":
            raise ConnectionError(f"Service '{self._service}' is not currently running.")
        return self._connection(ports, user)

    def _connection(self, ports: str, user: str | None) -> SandboxConnection:
        try:
            mappings = parse_docker_inspect_ports(ports)
        except (ValueError, KeyError, TypeError, AttributeError):
            mappings = None
        as_user = ["--user", user] if user else []
        return SandboxConnection(
            type="docker",
            command=shlex.join(["docker", "exec", "-it", *as_user, self._name, "bash", "-l"]),
            # vscode cannot attach as a given user (as inspect: no command then)
            vscode_command=None
            if user
            else ["remote-containers.attachToRunningContainer", self._name],
            ports=mappings,
            container=self._name,
        )

    @override
    async def read_file(self, file: str, text: bool = True) -> str | bytes:  # type: ignore[override]
        """As inspect's (relative paths from the working directory, inspect's size limit and
        errors), read where `docker cp` cannot see: the writable directories are tmpfs mounts
        of the container's own. Through the host view where it answers (the walk refuses
        every symlink: evals/sandbox/_host.py `read_whole`), else in the container: as root,
        then as the service's user for a file root may not read (root holds no capabilities),
        in chunks whose base64 fits inspect's exec output limit."""
        path = self.container_file(file)
        data = await self._host_read(path, file)
        if data is None:
            data = await self._exec_read(path, file)
        return data.decode("utf-8") if text else data

    async def _host_read(self, path: str, original: str) -> bytes | None:
        if await container_pid(self._container) is None:
            return None
        try:
            return await asyncio.to_thread(
                host_read, self._container, path, SandboxEnvironmentLimits.MAX_READ_FILE_SIZE
            )
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory.", original) from None
        except NotADirectoryError:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory.", original) from None
        except IsADirectoryError:
            raise IsADirectoryError(errno.EISDIR, "Is a directory.", original) from None
        except TooLarge as ex:
            raise OutputLimitExceededError(
                f"{SandboxEnvironmentLimits.MAX_READ_FILE_SIZE} bytes ({original}: {ex})", None
            ) from None
        except OSError:
            return None  # the container answers it

    async def _exec_read(self, path: str, original: str) -> bytes:
        chunks: list[bytes] = []
        size, user = -1, "root"
        while size < 0 or sum(map(len, chunks)) < size:
            done = sum(map(len, chunks))
            args = [path, str(done + 1), str(_READ_CHUNK)]
            result = await self.exec(["/bin/sh", "-c", _READ_SCRIPT, "sh", *args], user=user)
            if result.returncode == 13 and user == "root":
                user, chunks, size = None, [], -1  # type: ignore[assignment]
                continue
            if result.returncode == 2:
                raise FileNotFoundError(errno.ENOENT, "No such file or directory.", original)
            if result.returncode == 21:
                raise IsADirectoryError(errno.EISDIR, "Is a directory.", original)
            if result.returncode == 13:
                raise PermissionError(errno.EACCES, "Permission denied.", original)
            head, _, body = result.stdout.partition("\n")
            if not result.success or not head.strip().isdigit():
                raise RuntimeError(f"reading {original} failed: {result.stderr.strip()[:300]}")
            size = int(head)
            if size > SandboxEnvironmentLimits.MAX_READ_FILE_SIZE:
                raise OutputLimitExceededError(
                    f"{SandboxEnvironmentLimits.MAX_READ_FILE_SIZE} bytes ({original})", None
                )
            chunk = base64.b64decode(body.strip())
            if not chunk:
                break  # shrank while read: what there was
            chunks.append(chunk)
        return b"".join(chunks)

    @override
    async def exec(
        self,
        cmd: list[str],
        input: str | bytes | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        user: str | None = None,
        timeout: int | None = None,
        timeout_retry: bool = True,
        concurrency: bool = True,
    ) -> ExecResult[str]:
        final_cwd = PurePosixPath(self._working_dir if cwd is None else cwd)
        if not final_cwd.is_absolute():
            final_cwd = self._working_dir / final_cwd
        args = ["docker", "exec", "-i", "--workdir", str(final_cwd)]
        if user:
            args += ["--user", user]
        for key, value in (env or {}).items():
            args += ["--env", f"{key}={value}"]
        # as inspect: the in-container timeout kills the process tree (docker exec does not
        # forward a signal), the host's fires only on a hung CLI or daemon
        in_container = cmd
        if timeout is not None:
            in_container = ["/usr/bin/timeout", "-k", "5s", f"{timeout}s", *cmd]
        host_timeout = timeout + 10 if timeout is not None else None

        start = time.monotonic()
        result = await self._run(
            [*args, self._container, *in_container],
            input=input,
            timeout=host_timeout,
            retry=timeout_retry,
            concurrency=concurrency,
        )

        elapsed = time.monotonic() - start
        # 124: GNU timeout's SIGTERM; 137/143 (SIGKILL, SIGTERM) only when the time was up
        timed_out = result.returncode == 124 or (
            result.returncode in (137, 143) and elapsed >= (timeout or 0)
        )
        if timeout is not None and timed_out:
            error = TimeoutError(f"Command timed out after {timeout} seconds")
            partial = (result.stdout or "") + (result.stderr or "")
            if partial:
                error.truncated_output = partial  # type: ignore[attr-defined]
            raise error

        if _GONE.search(result.stderr or "") and result.returncode in (1, 125, 126, 127):
            raise SandboxUnavailableError(
                f'The sandbox is not running and cannot execute: the container for service "'
                f'{self._service}" is gone or stopped ({result.stderr.strip()[:200]})'
            )
        if (
            result.returncode > 128
            and not result.stdout.strip()
            and not result.stderr.strip()
            and not await _running(self._container)
        ):
            # as inspect: a container that died mid-command shows only a signal's exit code
            raise SandboxUnavailableError(
                "The sandbox is not running and cannot execute: command exited with code "
                f'{result.returncode} and no output, and the container for service "'
                f'{self._service}" has exited'
            )
        failure = classify_exec_failure(
            result,
            wrapper=InjectedWrapper(binary=in_container[0], target=cmd[0])
            if in_container is not cmd and cmd
            else None,
        )
        if failure is not None:
            raise failure
        return result

    async def _run(
        self,
        args: list[str],
        *,
        input: str | bytes | None,
        timeout: int | None,
        retry: bool,
        concurrency: bool,
    ) -> ExecResult[str]:
        attempt = 0
        while True:
            # as inspect's compose retry: the full timeout first, then at most 60 s, halved
            limit = timeout
            if timeout is not None and attempt > 0:
                limit = max(min(timeout, 60) // attempt, 1)
            try:
                return await subprocess(
                    args,
                    input=input,
                    timeout=limit,
                    output_limit=SandboxEnvironmentLimits.MAX_EXEC_OUTPUT_SIZE,
                    concurrency=concurrency,
                )
            except TimeoutError:
                attempt += 1
                if not (retry and timeout is not None and attempt <= _TIMEOUT_RETRIES):
                    raise


async def _running(container: str) -> bool:
    """False only when docker positively says the container is not running."""
    result = await subprocess(
        ["docker", "inspect", "--format", "{{.State.Running}}", container], timeout=60
    )
    return not (result.success and result.stdout.strip() == "false")


async def _services(project: ComposeProject) -> tuple[dict[str, Any], bool]:
    """The services of the project's compose file, and whether it is one
    `evals.sandbox.compose_config` rendered (`RENDERED_KEY`; no interpolation in service names,
    healthchecks or `x-default`; tmpfs mounts, and volumes only for a pack image's holder),
    which is read as it is; any other goes through inspect's `compose config` and its mount
    checks."""
    config: Any = None
    if project.config is not None:
        # the safe loader, libyaml's where installed: the pure-Python one took ≈ 50 ms a sample
        safe = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(Path(project.config).read_text())
        try:
            config = safe.get_single_data()
        finally:
            safe.dispose()
    rendered = config.get(RENDERED_KEY) if isinstance(config, dict) else None
    services = config.get("services") if isinstance(config, dict) else None
    if rendered is not True or not isinstance(services, dict) or not services:
        return await compose_services(project), False
    return {str(name): spec or {} for name, spec in services.items()}, True


def _health_waits(services: dict[str, Any]) -> bool:
    """Whether compose's `--wait` has something to wait for beyond a container running: a
    healthcheck, or a dependency on one's health."""
    for spec in services.values():
        if not isinstance(spec, dict) or spec.get("healthcheck"):
            return True
        depends = spec.get("depends_on")
        if isinstance(depends, dict) and any(
            not isinstance(d, dict) or d.get("condition") not in (None, "service_started")
            for d in depends.values()
        ):
            return True
    return False


async def _up_detached(project: ComposeProject) -> ExecResult[str]:
    """`compose up --detach` without `--wait`, for a rendered project with no healthcheck:
    compose's wait then only looks, 0.5 s after the start (its poll interval), whether each
    container runs; `sample_init` looks itself, right after and again once the setup ran and
    the sidecars listen. Not checked, as inspect's `compose_up`: what started is inspected."""
    return await compose_command(["up", "--detach"], project=project, timeout=_UP_TIMEOUT)


async def _environments(
    cls: type[SchemingDockerSandbox],
    project: ComposeProject,
    services: dict[str, Any],
    containers: dict[str, _Container],
    up: ExecResult[str],
) -> dict[str, SandboxEnvironment]:
    """As inspect's checks after `compose up`: every service running or exited 0, a sandbox
    per running service, the default one first."""
    failed = [
        name
        for name in services
        if (c := containers.get(name)) is None
        or not (c.status == "running" or (c.status == "exited" and c.exit_code == 0))
    ]
    running = [
        name for name in services if name not in failed and containers[name].status == "running"
    ]
    if failed or not running:
        raise RuntimeError(
            "No services started.\n"
            + "".join([await _failure(name, containers.get(name)) for name in failed])
            + f"Compose up stderr: {up.stderr}"
        )
    environments: dict[str, SandboxEnvironment] = {}
    default: str | None = None
    for name in running:
        c = containers[name]
        if c.holder:
            continue  # checked above; nothing runs in it, so no sandbox (and no connection)
        environments[name] = cls(
            name, project, c.working_dir or "/", container=c.id, name=c.name, ports=c.ports
        )
        if c.root_caps:
            # the verdict inspect's root probe (an exec per service and sample) would reach,
            # read from the settings it follows from: inspect then runs no probe
            environments[name]._root_access = RootAccess("unusable", c.root_caps)
        if c.pid > 0:
            report_pid(c.id, c.pid)
        if services[name].get("x-default", False):
            default = name
    default = default or "default"
    if default not in environments:
        raise RuntimeError(
            "No 'default' service found in Docker compose file. "
            + "You should either name a service 'default' or add "
            + "'x-default: true' to one of your service definitions."
        )
    return {default: environments[default]} | {
        k: v for k, v in environments.items() if k != default
    }


async def _failure(service: str, container: _Container | None) -> str:
    """One line naming a service that did not start, and its log tail."""
    if container is None:
        return f"Service '{service}': no container was created.\n"
    state = container.status + (
        f" with code {container.exit_code}" if container.status == "exited" else ""
    )
    logs = ""
    try:
        result = await subprocess(
            ["docker", "logs", "--tail", str(_LOG_TAIL), container.id],
            timeout=_PROBE_TIMEOUT,
            output_limit=_LOG_LIMIT,
        )
        tail = (result.stdout + result.stderr).strip()[-_LOG_LIMIT:]
        if tail:
            logs = f"; its last log lines:\n{tail}"
    except (TimeoutError, RuntimeError, OSError):
        pass
    return f"Service '{service}' is {state}{logs}\n"


async def _look(project: ComposeProject, services: dict[str, Any]) -> dict[str, _Container]:
    """Every service's container as docker sees it now (`_containers`)."""
    return await _containers(project.name, list(services))


async def _containers(project: str, services: list[str]) -> dict[str, _Container]:
    """Service → its container, for one compose project: one `docker inspect` of compose's
    container names, checked against the project and service labels; a service whose name does
    not answer is looked up by label (`docker ps -a`, then `docker inspect` of what it finds)."""
    found = await _inspect(project, [f"{project}-{service}-1" for service in services])
    missing = [service for service in services if service not in found]
    if missing:
        listed = await subprocess(
            [
                "docker",
                "ps",
                "-a",
                "-q",
                "--no-trunc",
                "--filter",
                f"label={_PROJECT_LABEL}={project}",
            ],
            timeout=_PROBE_TIMEOUT,
        )
        if not listed.success:
            raise RuntimeError(f"docker ps for project '{project}' failed: {listed.stderr.strip()}")
        ids = listed.stdout.split()
        if ids:
            found = {**await _inspect(project, ids), **found}
    return found


async def _inspect(project: str, containers: list[str]) -> dict[str, _Container]:
    """Service → container, of those of `containers` (names or ids) that exist and belong to
    `project` (docker prints the ones it finds and fails for the others)."""
    result = await subprocess(
        ["docker", "inspect", "--type", "container", *containers], timeout=_PROBE_TIMEOUT
    )
    try:
        records = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        records = []
    found: dict[str, _Container] = {}
    for record in records if isinstance(records, list) else []:
        try:
            labels = record["Config"].get("Labels") or {}
            if labels.get(_PROJECT_LABEL) != project or _SERVICE_LABEL not in labels:
                continue
            state = record["State"]
            found[str(labels[_SERVICE_LABEL])] = _Container(
                id=str(record["Id"]),
                name=str(record["Name"]).lstrip("/"),
                status=str(state["Status"]),
                exit_code=int(state.get("ExitCode") or 0),
                working_dir=str(record["Config"].get("WorkingDir") or ""),
                pid=int(state.get("Pid") or 0),
                exposed=_exposed(record["Config"].get("ExposedPorts")),
                ports=json.dumps((record.get("NetworkSettings") or {}).get("Ports")),
                holder=HOLDER_LABEL in labels,
                root_caps=_no_user_switch(record.get("HostConfig") or {}),
                networks=tuple(
                    str(n) for n in (record.get("NetworkSettings") or {}).get("Networks") or {}
                ),
                volumes=any(
                    not isinstance(m, dict) or m.get("Type") != "tmpfs"
                    for m in record.get("Mounts") or []
                ),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return found


_SWITCH_CAPS = {"CAP_SETUID", "CAP_SETGID"}
_DEFAULT_CAPS = {
    *("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW"),
    *("CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE"),
    *("CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"),
}
"""The capabilities docker gives a container's root unless told otherwise (moby's default
set)."""


def _no_user_switch(host_config: dict[str, Any]) -> str:
    """Why root in this container cannot switch users, from its capability settings; "" where
    it may or the settings are not the plain kind read here (inspect's probe decides)."""

    def caps(key: str) -> set[str] | None:
        value = host_config.get(key) or []
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            return None
        return {c.upper() if c.upper().startswith("CAP_") else "CAP_" + c.upper() for c in value}

    dropped, added = caps("CapDrop"), caps("CapAdd")
    if host_config.get("Privileged") is not False or dropped is None or added is None:
        return ""
    kept = added | (set() if "CAP_ALL" in dropped else _DEFAULT_CAPS - dropped)
    if "CAP_ALL" in added or kept >= _SWITCH_CAPS:
        return ""
    return (
        "root cannot switch users: the container's capabilities (CapDrop "
        + ",".join(sorted(dropped))
        + ", CapAdd "
        + (",".join(sorted(added)) or "none")
        + ") lack "
        + ",".join(sorted(_SWITCH_CAPS - kept))
    )


_seeds: dict[tuple[str, tuple[str, ...]], str] = {}
"""(image, dirs) → the seed step, for this process: an image is built before a run uses it
(`scheming setup`), so its content does not change under one."""
_seed_locks: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, tuple[str, ...]], asyncio.Lock]
] = weakref.WeakKeyDictionary()
"""One lock per (image, dirs) and event loop: the samples that start together read an image's
content once, not once each (inspect runs each eval in a loop of its own)."""
_SEED_TRIES = 3


async def _seed(spec: dict[str, Any]) -> str:
    """The setup step that copies the image's content of the service's `SEED_KEY` directories
    (tmpfs mounts, empty at start) back in, as the container's default user (the owner of
    what is there: the agent's home), modes and times kept: "" when there is none. The
    content is read once per image and process with a `docker run` of the image (labelled,
    no network, removed), and kept only once it reads back as a whole tar archive: a full
    suite saw a `docker run` that exited 0 with output that was not one (every later sample
    of that process then failed its setup). Tried `_SEED_TRIES` times, then the sample
    errors, naming the image."""
    dirs = spec.get(SEED_KEY)
    image = spec.get("image")
    if not dirs or not isinstance(dirs, list) or not isinstance(image, str):
        return ""
    key = (image, tuple(str(d) for d in dirs))
    if key in _seeds:
        return _seeds[key]
    locks = _seed_locks.setdefault(asyncio.get_running_loop(), {})
    async with locks.setdefault(key, asyncio.Lock()):
        if key not in _seeds:
            archive = await _read_seed(image, key[1])
            _seeds[key] = (
                "set -e; printf '%s' '"
                + base64.b64encode(archive).decode("ascii")
                + "' | base64 -d | tar -x -p --no-same-owner -C / -f -\n"
            )
    return _seeds[key]


async def _read_seed(image: str, dirs: tuple[str, ...]) -> bytes:
    """The tar archive of `dirs` in `image` (see `_seed`)."""
    why = ""
    for _ in range(_SEED_TRIES):
        result = await subprocess(
            [
                *("docker", "run", "--rm", "--network", "none", "--label", f"{LABEL}=1"),
                # the run's label too: a run killed while this one ran removes it on re-run
                *("--label", f"{RUN_LABEL}={os.environ.get(RUN_ID_ENV) or 'adhoc'}"),
                *("--user", "0", "--entrypoint", "tar", image, "-C", "/", "-c", "-f", "-"),
                *(d.lstrip("/") for d in dirs),
            ],
            text=False,
            timeout=_SEED_TIMEOUT,
        )
        if not result.success:
            stderr = result.stderr.decode("utf-8", "replace").strip()[:300]
            raise RuntimeError(f"reading {', '.join(dirs)} of {image} failed: {stderr}")
        why = _not_a_tar(result.stdout)
        if not why:
            return result.stdout
        logger.warning(f"reading {', '.join(dirs)} of {image}: {why}; read again")
    raise RuntimeError(
        f"reading {', '.join(dirs)} of {image} gave no tar archive in {_SEED_TRIES} tries: {why}"
    )


def _not_a_tar(data: bytes) -> str:
    """Why `data` is not a whole tar archive with at least one member, every file in it of
    its full size ("" when it is)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            members = archive.getmembers()
            if not members:
                return f"an empty archive ({len(data)} bytes)"
            for member in members:
                body = archive.extractfile(member) if member.isreg() else None
                if body is not None and len(body.read()) != member.size:
                    return f"{member.name} cut short ({len(data)} bytes in all)"
    except (tarfile.TarError, EOFError, OSError) as ex:
        return f"{len(data)} bytes starting {data[:16]!r}: {ex}"
    return ""


READY_TIMEOUT = 60
"""Seconds a sidecar has, after its container started, to listen on every port it exposes."""


def _exposed(ports: Any) -> tuple[int, ...]:
    """The TCP port numbers of `Config.ExposedPorts` ({"8080/tcp": {}, ...})."""
    if not isinstance(ports, dict):
        return ()
    out = set()
    for key in ports:
        number, _, proto = str(key).partition("/")
        if proto in ("", "tcp") and number.isdigit():
            out.add(int(number))
    return tuple(sorted(out))


_LISTEN = "0A"
_NET_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")


def listening_ports(tables: str) -> set[int]:
    """The ports in LISTEN state in /proc/net/tcp and tcp6 rows (`sl local rem st ...`, the
    local address `hex-ip:hex-port`)."""
    out = set()
    for line in tables.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[3] == _LISTEN and ":" in fields[1]:
            try:
                out.add(int(fields[1].rsplit(":", 1)[1], 16))
            except ValueError:
                continue
    return out


async def _listening(env: SchemingDockerSandbox, ports: tuple[int, ...]) -> None:
    """Wait until the service listens on every port in `ports`: its sockets read from the
    host (`/proc/<pid>/net/tcp{,6}` of its init, in the container's network namespace) every
    50 ms, else from inside it (`cat`) every 250 ms. Raises after `READY_TIMEOUT` s, naming the
    service and the ports it did not open (the sample errors: a sidecar that never came up is
    the harness's failure, not the agent's)."""
    if not ports:
        return
    deadline = time.monotonic() + READY_TIMEOUT
    seen: set[int] = set()
    while True:
        pid = await container_pid(env._container)
        if pid is not None:
            try:
                text = "".join(Path(f"/proc/{pid}/net/{t}").read_text() for t in ("tcp", "tcp6"))
            except OSError:
                text = ""
            wait = 0.05
        else:
            try:
                result = await env.exec(["cat", *_NET_TABLES], timeout=_PROBE_TIMEOUT)
            except SandboxUnavailableError:
                return  # it stopped: `sample_init`'s next look at every service says how
            text, wait = result.stdout, 0.25
        seen = listening_ports(text)
        if seen >= set(ports):
            return
        if time.monotonic() > deadline:
            missing = ", ".join(str(p) for p in sorted(set(ports) - seen))
            raise RuntimeError(
                f"Service '{env._service}' is not listening on port(s) {missing} "
                f"{READY_TIMEOUT} s after it started"
            )
        await asyncio.sleep(wait)


async def _run_setup(environment: SandboxEnvironment, script: str) -> None:
    """The sample's setup script in one exec, as inspect's `Sample.setup`: the default
    service's default user, bash, inspect's timeout (`INSPECT_SANDBOX_SETUP_TIMEOUT`), not
    retried on timeout (it need not be idempotent), a failure raising with its stderr."""
    timeout = int(os.environ.get("INSPECT_SANDBOX_SETUP_TIMEOUT", SETUP_TIMEOUT))
    try:
        result = await environment.exec(
            ["bash", "-c", _RUN_SETUP], input=script, timeout=timeout, timeout_retry=False
        )
    except TimeoutError:
        raise RuntimeError("Timed out executing setup command in sandbox") from None
    if not result.success:
        raise RuntimeError(f"Failed to execute setup script for sample: {result.stderr}")


async def _down(project: ComposeProject) -> None:
    """inspect's `compose down --volumes` (same timeout, warnings instead of errors), without
    its image cleanup (see the module doc); the project leaves the cleanup registry."""
    try:
        result = await compose_command(
            ["down", "--volumes"],
            project=project,
            cwd=os.path.dirname(project.config) if project.config else None,
            timeout=_DOWN_TIMEOUT,
            capture_output=True,
            ansi="never",
        )
        if not result.success:
            logger.warning(f"Failed to stop docker service {result.stderr}")
    except TimeoutError:
        logger.warning(
            f"Docker compose down for project '{project.name}' timed out after "
            f"{_DOWN_TIMEOUT} seconds."
        )
    _forget(project)


def _forget(project: ComposeProject) -> None:
    """The project leaves inspect's cleanup registry (it is down)."""
    running = cleanup_state().running_projects
    if project in running:
        running.remove(project)


@dataclass(frozen=True)
class _Teardown:
    """A sample's containers and its own networks, removed without compose."""

    containers: tuple[str, ...]
    networks: tuple[str, ...]


def _teardown(project: str, containers: dict[str, _Container]) -> _Teardown | None:
    """What `compose down --volumes` would remove, where removing it directly is the same:
    the containers `docker inspect` found (every service's), none with a mount but tmpfs, and
    the networks compose made for the project (`<project>_<name>`); None otherwise."""
    if not containers or any(c.volumes for c in containers.values()):
        return None
    networks = {n for c in containers.values() for n in c.networks if n.startswith(f"{project}_")}
    return _Teardown(tuple(c.id for c in containers.values()), tuple(sorted(networks)))


async def _remove(teardown: _Teardown) -> bool:
    """`docker rm -f` of the containers, then `docker network rm` of their networks: what
    compose down does for such a project, in two calls that load no compose project (compose
    down cost 0.33 busy CPU-s a sample, these 0.24, bench/README.md), and without the stop's
    grace period (the sample is graded: nothing in the containers is read after this). False
    when either fails or hangs: the caller brings the project down with compose."""
    calls = [["docker", "rm", "--force", "--volumes", *teardown.containers]]
    if teardown.networks:
        calls.append(["docker", "network", "rm", *teardown.networks])
    for args in calls:
        try:
            result = await subprocess(args, timeout=_DOWN_TIMEOUT)
        except TimeoutError:
            return False
        if not result.success:
            logger.warning(f"{' '.join(args[:3])} failed: {result.stderr.strip()[:300]}")
            return False
    return True


def sandbox_container(env: SandboxEnvironment) -> str | None:
    """The container id behind a `scheming-docker` sandbox (`sandbox()` gives it wrapped in
    inspect's event proxy: `as_type` unwraps it); None for any other kind (k8s, inspect's own
    docker sandbox), which keeps its exec path."""
    try:
        ours = env.as_type(SchemingDockerSandbox)
    except TypeError:
        return None
    container = getattr(ours, "_container", None)
    return container if isinstance(container, str) else None
