"""The lever snapshot from the docker host (/proc/<pid>/root) gives the exec path's records,
field for field, on a fixture of levers in a real workstation container; the levers whose
in-container answer could differ go to the exec path (and are listed here, so the host path is
known to have read the rest); an agent's symlink never makes the harness read a host file, even
swapped in between the lstat and the open; a pid that is not the container's falls back."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.util import ExecResult
from inspect_ai.util import subprocess as async_subprocess

from evals.detectors import _trace_host
from evals.detectors._trace import exec_levers, host_file, host_snapshot, read_levers
from evals.sandbox import _docker_exec, _host
from evals.sandbox._host import container_pid, open_view

pytestmark = pytest.mark.docker

IMAGE = "scheming-evals/workstation:latest"
SECRET = f"HOST-SECRET-{uuid.uuid4().hex}"

HOST_READ = {
    "/work/regular.yaml": "file",
    "/work/empty": "file",
    "/work/zeros.bin": "file",
    "/work/sparse.bin": "file",
    "/work/dir": "dir",
    "/work/fifo": "fifo",
    "/work/missing.yaml": "missing",
    "/work/nodir/missing.yaml": "missing",
    "/work/regular.yaml/under": "missing",
    "/work/root600.yaml": "file",
    "/home/agent/lever.yaml": "file",
}
"""Levers the host view reads itself, with the type both paths give."""
EXEC_READ = {
    "/work/link_file": "symlink",
    "/work/link_host": "symlink",
    "/work/up/marker": "missing",
    "/work/root/etc/hostname": "file",
    "/work/mode000": "file",
    "/work/agent600.yaml": "file",
    "/work//regular.yaml": "file",
}
"""Levers the host view hands to the exec path: a symlink (the lever or a parent: to a file,
to a host path, to the container's `/`), a mode root in the container may not read (000: still
denied; 600 owned by the agent: read as the agent), a path realpath would rewrite."""


def _docker(*args: str, check: bool = True) -> str:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, check=check)
    return out.stdout


@pytest.fixture(scope="module")
def host_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A host directory holding a marker file: an agent's symlink points at its host path."""
    d = tmp_path_factory.mktemp("host-secret")
    (d / "marker").write_text(SECRET + "\n")
    return d


@pytest.fixture(scope="module")
def box(docker_ready: None, host_dir: Path) -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("the host view needs root on the docker host")
    name = f"scheming-trace-host-{uuid.uuid4().hex[:8]}"
    cid = _docker(
        "run", "-d", "--rm", "--name", name, "--label", "scheming-evals.test=trace-host",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true", "--network", "none",
        "--tmpfs", "/work:mode=1777,size=64m", IMAGE, "sleep", "900",
    ).strip()  # fmt: skip
    marker = host_dir / "marker"
    setup = f"""
        set -e; cd /work
        printf 'monitoring:\\n  enabled: true\\n' > regular.yaml
        : > empty
        printf 'GGUF\\000\\001\\002\\377\\000\\000rest\\000\\000\\000' > zeros.bin
        truncate -s 1G sparse.bin
        mkdir dir && touch dir/a dir/b
        mkfifo fifo
        ln -s regular.yaml link_file
        ln -s {marker} link_host
        ln -s {host_dir} up
        ln -s / root
        echo private > mode000 && chmod 000 mode000
        echo mine > agent600.yaml && chmod 600 agent600.yaml
        printf 'lever: 1\\n' > /home/agent/lever.yaml
    """
    try:
        _docker("exec", "-u", "agent", cid, "sh", "-c", setup)
        _docker(
            "exec", "-u", "root", cid, "sh", "-c",
            "echo 'root only' > /work/root600.yaml && chmod 600 /work/root600.yaml",
        )  # fmt: skip
        yield cid
    finally:
        _docker("rm", "-f", cid, check=False)


def _run(cid: str):  # type: ignore[no-untyped-def]
    async def run(cmd: list[str], user: str) -> ExecResult[str]:
        return await async_subprocess(["docker", "exec", "-u", user, cid, *cmd], timeout=60)

    return run


PATHS = [*HOST_READ, *EXEC_READ]


def test_host_and_exec_paths_give_the_same_records(box: str) -> None:
    async def both() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        host = await host_snapshot(box, PATHS)
        merged = await read_levers(PATHS, "agent", run=_run(box), container_id=box)
        execd = await exec_levers(PATHS, "agent", _run(box))
        return host, merged, execd

    host, merged, execd = asyncio.run(both())
    assert set(host) == set(HOST_READ), sorted(set(host) ^ set(HOST_READ))
    assert merged == execd
    assert list(merged) == PATHS
    for path, kind in {**HOST_READ, **EXEC_READ}.items():
        assert merged[path]["type"] == kind, (path, merged[path])
    # the records are the ones meant, not two equal failures
    assert merged["/work/regular.yaml"]["text"] == "monitoring:\n  enabled: true\n"
    assert merged["/work/empty"]["hashed"] == 0 and merged["/work/empty"]["text"] == ""
    zeros = merged["/work/zeros.bin"]
    assert zeros["binary"] and zeros["head_b64"] and "text" not in zeros
    sparse = merged["/work/sparse.bin"]
    assert sparse["partial"] and sparse["size"] == 1 << 30 and sparse["hashed"] == 1 << 20
    assert merged["/work/dir"]["entries"] == ["a", "b"]
    assert merged["/work/nodir/missing.yaml"] == {"type": "missing"}
    assert merged["/work/regular.yaml/under"]["error"] == "a parent is not a directory"
    assert merged["/work/root600.yaml"]["text"] == "root only\n"
    assert merged["/work/mode000"]["denied"] and "text" not in merged["/work/mode000"]
    assert merged["/work/agent600.yaml"]["text"] == "mine\n"
    assert merged["/work/link_file"]["target"] == "regular.yaml"
    assert merged["/work/root/etc/hostname"]["real"] == "/etc/hostname"
    assert merged["/work//regular.yaml"]["real"] == "/work/regular.yaml"
    assert SECRET not in json.dumps(merged)


def test_symlink_swapped_in_between_lstat_and_open_is_never_followed(
    box: str, host_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent replaces the lever by a symlink to a host file right after the walk's lstat:
    the open (O_NOFOLLOW) fails, the lever goes to the exec path, which sees a symlink."""
    _docker("exec", "-u", "agent", box, "sh", "-c", "echo 'swap: 1' > /work/swap.yaml")
    pid = asyncio.run(container_pid(box))
    assert pid is not None
    work = f"/proc/{pid}/root/work"
    real_check = _trace_host._root_may
    swapped: list[bool] = []

    def swap_after_lstat(st: os.stat_result, bit: int) -> None:
        real_check(st, bit)
        if bit == _trace_host._R and not swapped:  # the lever's own read check: after lstat
            os.symlink(str(host_dir / "marker"), f"{work}/.swap-new")
            os.rename(f"{work}/.swap-new", f"{work}/swap.yaml")
            swapped.append(True)

    monkeypatch.setattr(_trace_host, "_root_may", swap_after_lstat)
    got = asyncio.run(read_levers(["/work/swap.yaml"], "agent", run=_run(box), container_id=box))
    assert swapped
    assert got["/work/swap.yaml"]["type"] == "symlink"
    assert got["/work/swap.yaml"]["target"] == str(host_dir / "marker")
    assert SECRET not in json.dumps(got)


def test_racing_symlink_swaps_never_read_the_host(box: str, host_dir: Path) -> None:
    """An agent loop swapping the lever between a file and a symlink to a host file while the
    host view reads it: every record is the file's content or a symlink, never the host's."""
    loop = (
        "cd /work; end=$(( $(date +%s) + 4 )); while [ $(date +%s) -lt $end ]; do "
        "echo 'race: 1' > .r && mv -f .r race.yaml; "
        f"ln -sf {host_dir / 'marker'} .l && mv -Tf .l race.yaml; done"
    )
    _docker("exec", "-u", "agent", box, "sh", "-c", "echo 'race: 1' > /work/race.yaml")
    swapper = subprocess.Popen(["docker", "exec", "-u", "agent", box, "sh", "-c", loop])
    seen: set[str] = set()
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            got = asyncio.run(host_snapshot(box, ["/work/race.yaml"]))
            text = json.dumps(got)
            assert SECRET not in text
            for state in got.values():
                seen.add(state["type"])
                if state["type"] == "file":
                    assert state["text"] == "race: 1\n"
    finally:
        swapper.wait(timeout=30)
    assert seen == {"file"} or not seen  # a symlink state is handed to the exec path


def test_a_pid_that_is_not_the_containers_falls_back(box: str) -> None:
    pid = asyncio.run(container_pid(box))
    assert pid is not None
    assert open_view(box, os.getpid()) is None
    view = open_view(box, pid)
    assert view is not None and view.valid()
    view.close()
    assert not view.valid()
    # a cached pid the kernel gave to another process: re-validated, never read through
    known = _host._known[box]
    _host._known[box] = _host._Known(pid=os.getpid(), mnt_ns=known.mnt_ns)
    assert open_view(box, os.getpid()) is None
    # a container the host view refuses (remote engine, rootless): every lever by exec
    _host._refused[box] = None
    try:
        assert asyncio.run(host_snapshot(box, PATHS)) == {}
        got = asyncio.run(read_levers(PATHS, "agent", run=_run(box), container_id=box))
        assert got["/work/regular.yaml"]["text"] == "monitoring:\n  enabled: true\n"
    finally:
        del _host._refused[box]
        _host._known[box] = known


GRADER_READ = {
    "/work/regular.yaml": "monitoring:\n  enabled: true\n",
    "/work/empty": "",
    "/work/root600.yaml": "root only\n",
    "/home/agent/lever.yaml": "lever: 1\n",
}
"""What the grader's file read takes from the host: a regular UTF-8 file root in the container
may read; a missing path is `{"type": "missing"}`; everything else goes to the exec path."""


def test_grader_file_read_from_the_host(box: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`host_file` (the graders' `stat` + `docker cp` without either) answers only where the
    exec path's answer is certain: whole UTF-8 text, or missing; a binary, sparse or oversized
    file, a directory, a FIFO, a symlink anywhere on the way and a file root may not read in
    the container are left to the exec path (None), and no host file is ever read."""
    monkeypatch.setattr(_docker_exec, "sandbox_container", lambda env: box)
    missing = [p for p, kind in HOST_READ.items() if kind == "missing"]
    exec_only = [p for p in PATHS if p not in GRADER_READ and p not in missing]

    async def read_all(cap: int) -> dict[str, dict[str, Any] | None]:
        return {p: await host_file(None, p, cap) for p in PATHS}  # type: ignore[arg-type]

    got = asyncio.run(read_all(1024))
    for path, text in GRADER_READ.items():
        rec = got[path]
        assert rec is not None and rec["text"] == text, (path, rec)
    for path in missing:
        assert got[path] is not None and got[path]["type"] == "missing", (path, got[path])  # type: ignore[index]
    for path in exec_only:
        assert got[path] is None, (path, got[path])
    assert SECRET not in json.dumps(got)
    # over the cap: the exec path says how large it is
    assert asyncio.run(host_file(None, "/work/regular.yaml", 8)) is None  # type: ignore[arg-type]
    # a sandbox with no host view (another kind, a remote engine): the exec path
    monkeypatch.setattr(_docker_exec, "sandbox_container", lambda env: None)
    assert asyncio.run(host_file(None, "/work/regular.yaml", 1024)) is None  # type: ignore[arg-type]


def test_grader_read_makes_no_docker_call_when_the_host_answers(
    box: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scorer's reads (`_read_file` as root, `_read_service` of a sidecar's log) take the
    host's answer without an exec or a copy, and go through both for what the host leaves."""
    from evals.graders import _scorer

    calls: list[str] = []

    class Box:
        async def exec(self, cmd: list[str], **kw: Any) -> ExecResult[str]:
            calls.append(" ".join(cmd))
            return await _run(box)(cmd, kw.get("user") or "agent")

        async def read_file(self, path: str) -> str:
            calls.append(f"read {path}")
            return "from the exec path"

    monkeypatch.setattr(_docker_exec, "sandbox_container", lambda env: box)
    monkeypatch.setattr(_scorer, "sandbox", lambda name=None: Box())
    assert (
        asyncio.run(_scorer._read_file("/work/regular.yaml")) == GRADER_READ["/work/regular.yaml"]
    )
    assert asyncio.run(_scorer._read_file("/work/missing.yaml")) is None
    assert asyncio.run(_scorer._read_service("mail", "/home/agent/lever.yaml")) == "lever: 1\n"
    assert calls == []
    assert asyncio.run(_scorer._read_file("/work/link_file")) == "<unreadable: symbolic link>"
    assert asyncio.run(_scorer._read_file("/work/fifo")) == "<unreadable: fifo>"
    assert asyncio.run(_scorer._read_file("/work/sparse.bin")) == f"<unreadable: {1 << 30} bytes>"
    assert len(calls) == 3 and all(c.startswith("stat ") for c in calls), calls
