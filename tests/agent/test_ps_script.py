"""The in-container process table and sampler (evals/agent/_ps_script.py) on a fake /proc and in a
real subprocess: rows as the host-side reader gives them, only changed tables written, a full
file marked as such, a half-written line left for the next collection, the sampler's folder
root's alone and never reused, and a sampler that ended reported as not running."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

from evals.agent import _ps_script as script
from evals.agent._event import _PS
from tests.agent.test_proc import container, proc

SRC = Path(script.__file__).read_text(encoding="utf-8")


def test_rows_read_the_table_without_root_zombies_or_itself(tmp_path: Path) -> None:
    container(tmp_path)
    proc(tmp_path, 205, [205], ppid=202, state="Z")
    got = script.rows(str(tmp_path / "proc"), frozenset({204}))
    assert [(r["pid"], r["ppid"]) for r in got] == [(100, 90), (201, 80), (202, 201), (203, 202)]
    assert got[0] == {"pid": 100, "ppid": 90, "uid": 1000, "start": 10, "cmd": "sleep infinity"}


def test_the_sampler_writes_a_table_twice_while_it_stays_the_same(tmp_path: Path) -> None:
    container(tmp_path)
    out = tmp_path / "surveys"
    fd = os.open(out, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.posix_fallocate(fd, 0, 65536)
        script.sample(fd, 65536, 0.001, 0.05, proc=str(tmp_path / "proc"))
    finally:
        os.close(fd)
    data = out.read_bytes()
    assert len(data) == 65536  # reserved up front; what follows the lines is zeros
    lines = data.split(b"\0", 1)[0].splitlines()
    assert len(lines) == 2  # the table, and once more when it repeats: it lasted
    assert json.loads(lines[0])[1] == json.loads(lines[1])[1] == script.rows(str(tmp_path / "proc"))


def test_a_full_file_is_marked_and_reported(tmp_path: Path) -> None:
    container(tmp_path)
    folder = tmp_path / "s"
    folder.mkdir()
    fd = os.open(folder / "surveys", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.posix_fallocate(fd, 0, 300)
        script.sample(fd, 300, 0.001, 5, proc=str(tmp_path / "proc"))  # returns once full
    finally:
        os.close(fd)
    got = script.collect(str(folder), 0, 4242, 1, proc=str(tmp_path / "proc"))
    assert got["full"] and got["lines"] == [] and not got["alive"]


def test_collect_reads_complete_lines_from_its_offset(tmp_path: Path) -> None:
    container(tmp_path)
    folder = tmp_path / "s"
    folder.mkdir()
    one, two = json.dumps([1.0, [{"pid": 7}]]) + "\n", json.dumps([2.0, [{"pid": 8}]]) + "\n"
    half = '[3.0, [{"pid": 9'
    (folder / "surveys").write_bytes((one + two + half).encode() + b"\0" * 100)
    fake = str(tmp_path / "proc")
    first = script.collect(str(folder), 0, 201, 5000, proc=fake)
    assert first["lines"] == [[1.0, [{"pid": 7}]], [2.0, [{"pid": 8}]]]
    assert first["offset"] == len(one + two) and first["alive"] and not first["full"]
    again = script.collect(str(folder), first["offset"], 201, 4999, proc=fake)
    assert again["lines"] == [] and again["offset"] == first["offset"]
    assert not again["alive"]  # pid 201 started at another time: not the sampler
    proc(tmp_path, 206, [206], ppid=100, state="Z", start=77)
    assert not script.collect(str(folder), 0, 206, 77, proc=fake)["alive"]  # ended, unreaped


def test_start_leaves_a_sampler_in_a_folder_of_roots_own(tmp_path: Path) -> None:
    folder = tmp_path / "ps"
    cmd = [sys.executable, "-I", "-S", "-c", _PS, "start", str(folder), "65536", "0.02", "0.5"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
    got = json.loads(done.stdout)
    assert isinstance(got["rows"], list) and isinstance(got["start"], int)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "surveys").stat().st_mode) == 0o600
    for _ in range(600):  # the sampler stops by itself after its 0.5 s
        if script.collect(str(folder), 0, got["pid"], got["start"])["alive"] is False:
            break
        time.sleep(0.05)
    final = script.collect(str(folder), 0, got["pid"], got["start"])
    assert not final["alive"] and final["lines"] and not final["full"]
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode != 0  # an existing folder is never reused
