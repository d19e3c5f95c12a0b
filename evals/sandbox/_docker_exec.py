"""`scheming-docker`: inspect's docker sandbox, with each exec a plain `docker exec`.

inspect's `docker` sandbox runs every exec as `docker compose exec`, which loads and validates
the compose project each time (≈ 83 ms of client CPU against ≈ 17 ms for `docker exec`, see
bench/README.md). This subclass resolves each service's container id once, after inspect's
`sample_init` has brought the project up, and runs `exec` (and so inspect's `write_file`,
which is built on it) as `docker exec -i` on that id, with inspect's semantics unchanged:
working directory (relative to the service's), user, environment, stdin, the in-container
`timeout -k 5s` wrapper with the host timeout 10 s above it, the 10 MiB output limit
(`OutputLimitExceededError`), exit codes, and a dead container reported as
`SandboxUnavailableError`. Everything else (compose up and down, `read_file` through `docker
compose cp`, cleanup) is inspect's. tests/sandbox/test_exec_semantics.py compares the two.
"""

from __future__ import annotations

import re
import time
from pathlib import PurePosixPath
from typing import Any

from inspect_ai.util import (
    ExecResult,
    SandboxEnvironment,
    SandboxEnvironmentConfigType,
    SandboxEnvironmentLimits,
    SandboxUnavailableError,
    sandboxenv,
    subprocess,
)

# inspect-evals-lint: ignore[IECQ001] -- the class to subclass has no public export
from inspect_ai.util._sandbox.docker.docker import DockerSandboxEnvironment

# inspect-evals-lint: ignore[IECQ001] -- the same failure classification as inspect's exec
from inspect_ai.util._sandbox.docker.failure import InjectedWrapper, classify_exec_failure
from typing_extensions import override

SANDBOX = "scheming-docker"
"""The name `SandboxEnvironmentSpec` selects this sandbox by."""

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


@sandboxenv(name=SANDBOX)
class SchemingDockerSandbox(DockerSandboxEnvironment):
    """inspect's docker sandbox with execs as plain `docker exec` on the service's container."""

    @override
    @classmethod
    async def sample_init(
        cls,
        task_name: str,
        config: SandboxEnvironmentConfigType | None,
        metadata: dict[str, str],
    ) -> dict[str, SandboxEnvironment]:
        environments = await super().sample_init(task_name, config, metadata)
        first = next(iter(environments.values())).as_type(DockerSandboxEnvironment)
        project = first._project
        try:
            containers = await _containers(project.name)
            ours: dict[str, SandboxEnvironment] = {}
            for name, env in environments.items():
                docker_env = env.as_type(DockerSandboxEnvironment)
                container = containers.get(docker_env._service)
                if container is None:
                    raise RuntimeError(f"no running container for service '{name}'")
                ours[name] = cls(
                    docker_env._service, project, docker_env._working_dir, container=container
                )
        except BaseException:
            await super().sample_cleanup(task_name, config, environments, False)
            raise
        return ours

    def __init__(self, service: str, project: Any, working_dir: str, *, container: str) -> None:
        super().__init__(service, project, working_dir)
        self._container = container

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


async def _containers(project: str) -> dict[str, str]:
    """Service → id of its running container, for one compose project (one `docker ps`)."""
    result = await subprocess(
        [
            "docker",
            "ps",
            "--no-trunc",
            "--filter",
            f"label={_PROJECT_LABEL}={project}",
            "--format",
            f'{{{{.ID}}}} {{{{.Label "{_SERVICE_LABEL}"}}}}',
        ],
        timeout=120,
    )
    if not result.success:
        raise RuntimeError(f"docker ps for project '{project}' failed: {result.stderr.strip()}")
    found: dict[str, str] = {}
    for line in result.stdout.splitlines():
        container, _, service = line.strip().partition(" ")
        if container and service:
            found[service] = container
    return found
