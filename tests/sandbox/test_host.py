"""The host's view of a container (evals/sandbox/_host.py): a pid is answered only when it is
the container's own process, seen with the host's uids; a stale or reused pid is never
trusted."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from evals.sandbox import SchemingDockerSandbox, _host
from evals.sandbox._docker_exec import sandbox_container
from evals.sandbox._host import container_pid, pid_is_container

IMAGE = "scheming-evals/workstation:latest"
LABEL = "scheming-evals.test=host-view"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    _host._known.clear()
    _host._refused.clear()
    yield
    _host._known.clear()
    _host._refused.clear()


def test_not_an_id_is_none() -> None:
    assert asyncio.run(container_pid("../../etc")) is None
    assert asyncio.run(container_pid("")) is None


def test_not_root_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert asyncio.run(container_pid("a" * 64)) is None


def test_remote_engine_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.1:2376")
    assert asyncio.run(container_pid("a" * 64)) is None


def test_the_container_of_a_sandbox_seen_through_inspects_event_proxy() -> None:
    """`sandbox()` hands out inspect's event proxy, not the sandbox itself (an isinstance check
    on it saw no scheming-docker sandbox, so every snapshot went through exec)."""
    # inspect-evals-lint: ignore[IECQ001] -- the proxy sandbox() returns has no public export
    from inspect_ai.util._sandbox.docker.docker import DockerSandboxEnvironment
    from inspect_ai.util._sandbox.events import SandboxEnvironmentProxy

    ours = SchemingDockerSandbox.__new__(SchemingDockerSandbox)
    ours._container = "c" * 64
    assert sandbox_container(ours) == "c" * 64
    assert sandbox_container(SandboxEnvironmentProxy(ours)) == "c" * 64
    stock = DockerSandboxEnvironment.__new__(DockerSandboxEnvironment)  # inspect's own
    assert sandbox_container(SandboxEnvironmentProxy(stock)) is None


def test_identity_map() -> None:
    assert _host._identity_map("         0          0 4294967295\n")
    assert not _host._identity_map("         0     100000      65536\n")
    assert not _host._identity_map("")


def start_container(*args: str) -> str:
    """A labelled workstation container that sleeps (removed by `stop_container`)."""
    name = f"scheming-host-view-{uuid.uuid4().hex[:8]}"
    out = subprocess.run(
        ["docker", "run", "-d", "--rm", "--label", LABEL, "--name", name, *args, IMAGE]
        + ["sleep", "600"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def stop_container(container: str) -> None:
    subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)


@pytest.fixture
def container(docker_ready: None) -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("the host view needs root on the docker host")
    cid = start_container()
    yield cid
    stop_container(cid)


@pytest.mark.docker
def test_pid_is_the_containers_and_a_reused_pid_is_not_trusted(container: str) -> None:
    pid = asyncio.run(container_pid(container))
    assert pid is not None and pid > 1
    with open(f"/proc/{pid}/cgroup") as f:
        assert container in f.read()
    assert pid_is_container(pid, container)
    # another process's pid (this test's own) is not the container's
    assert not pid_is_container(os.getpid(), container)
    # a cached pid now held by another process: re-validated, dropped, asked of docker again
    _host._known[container] = _host._Known(pid=os.getpid(), mnt_ns=_host._known[container].mnt_ns)
    assert asyncio.run(container_pid(container)) == pid
    # a container that stopped: its pid is not trusted any more
    stop_container(container)
    assert not pid_is_container(pid, container)
    assert asyncio.run(container_pid(container)) is None


@pytest.mark.docker
def test_another_containers_pid_is_refused(container: str) -> None:
    other = start_container()
    try:
        theirs = asyncio.run(container_pid(other))
        assert theirs is not None
        _host._known[container] = _host._Known(pid=theirs, mnt_ns=_host._known[other].mnt_ns)
        assert not pid_is_container(theirs, container)
        mine = asyncio.run(container_pid(container))
        assert mine is not None and mine != theirs
    finally:
        stop_container(other)
