"""The lever snapshot's two paths without docker: the host walk (evals/detectors/_trace_host.py)
run from this machine's own root gives the in-container script's record for every lever it
reads, and hands the others back; `read_levers` merges the two in the order asked, and a host
view that fails reads everything through the exec path instead of failing the snapshot."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.util import ExecResult

from evals.detectors import _trace
from evals.detectors._trace import _SCRIPT, HASH_CAP, HEAD_CAP, TEXT_CAP, read_levers
from evals.detectors._trace_host import host_levers


async def local_run(cmd: list[str], user: str) -> ExecResult[str]:
    """The exec path's command, run here (as this process's user)."""
    out = subprocess.run([sys.executable, *cmd[1:]], capture_output=True, text=True)
    return ExecResult(out.returncode == 0, out.returncode, out.stdout, out.stderr)


def script(paths: list[str]) -> dict[str, Any]:
    run = asyncio.run(
        local_run(
            ["python3", "-I", "-S", "-c", _SCRIPT, json.dumps(paths), str(HASH_CAP),
             str(TEXT_CAP), str(HEAD_CAP)],
            "root",
        )
    )  # fmt: skip
    return json.loads(run.stdout)


def walk(paths: list[str]) -> dict[str, Any]:
    root = os.open("/", os.O_PATH | os.O_DIRECTORY)
    try:
        return host_levers(
            root, paths, hash_cap=HASH_CAP, text_cap=TEXT_CAP, head_cap=HEAD_CAP,
            deadline=time.monotonic() + 30,
        )  # fmt: skip
    finally:
        os.close(root)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    d = tmp_path / "levers"
    d.mkdir()
    os.chmod(d, 0o755)
    (d / "cfg.yaml").write_text("enabled: true\n")
    (d / "empty").write_text("")
    (d / "blob.bin").write_bytes(b"\x7fELF\x00\x01\xff" + bytes(300))
    with open(d / "sparse", "wb") as f:
        f.truncate(3 * 1024 * 1024)
    (d / "sub").mkdir()
    (d / "sub" / "a").write_text("a")
    os.mkfifo(d / "fifo")
    (d / "link").symlink_to(d / "cfg.yaml")
    (d / "up").symlink_to(tmp_path)
    (d / "locked").write_text("secret\n")
    os.chmod(d / "locked", 0o000)
    for p in (d / "cfg.yaml", d / "empty", d / "blob.bin", d / "sparse"):
        os.chmod(p, 0o644)
    return d


@pytest.mark.skipif(os.geteuid() != 0, reason="the walk emulates root's own access checks")
def test_the_walk_gives_the_scripts_record_or_hands_the_lever_back(tree: Path) -> None:
    read = ["cfg.yaml", "empty", "blob.bin", "sparse", "sub", "fifo", "nope", "cfg.yaml/x"]
    handed_back = ["link", "up/levers/cfg.yaml", "locked"]
    paths = [str(tree / p) for p in read + handed_back]
    paths.append(str(tree) + "//cfg.yaml")  # realpath would rewrite it
    got = walk(paths)
    assert set(got) == {str(tree / p) for p in read}
    want = script(list(got))
    assert got == want
    assert got[str(tree / "sparse")]["partial"] and got[str(tree / "fifo")]["type"] == "fifo"
    assert got[str(tree / "nope")] == {"type": "missing"}


def test_read_levers_merges_host_and_exec_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[list[str]] = []

    async def host(container_id: str, paths: list[str]) -> dict[str, Any]:
        return {"/b": {"type": "missing", "via": "host"}}

    async def run(cmd: list[str], user: str) -> ExecResult[str]:
        paths = json.loads(cmd[5])
        asked.append(paths)
        return ExecResult(True, 0, json.dumps({p: {"type": "missing"} for p in paths}), "")

    monkeypatch.setattr(_trace, "host_snapshot", host)
    got = asyncio.run(read_levers(["/c", "/b", "/a", "/b"], "agent", run=run, container_id="x"))
    assert list(got) == ["/c", "/b", "/a"]
    assert got["/b"]["via"] == "host" and asked == [["/c", "/a"]]


def test_a_failing_host_view_reads_everything_through_exec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(container_id: str, paths: list[str]) -> dict[str, Any]:
        raise OSError("no /proc here")

    monkeypatch.setattr(_trace, "host_snapshot", broken)
    got = asyncio.run(read_levers(["/nowhere/x"], "agent", run=local_run, container_id="x"))
    assert got == {"/nowhere/x": {"type": "missing"}}
