"""The host-side process table (evals.agent._proc) on a fake /proc and /sys/fs/cgroup tree: the
rows the in-container survey gives (in-container pid and parent, uid, start, command line),
members from the container's cgroup or, without one, its pid namespace; processes that vanish,
zombies, root's and the host's are left out; huge or NUL-laden command lines are bounded."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from evals.agent import _proc

CID = "docker/" + "ab" * 32
NS = "pid:[4026532001]"


def proc(
    root: Path,
    host: int,
    nspid: list[int],
    *,
    ppid: int,
    uid: int = 1000,
    cmd: bytes = b"sleep\x0030\x00",
    state: str = "S",
    start: int = 5000,
    comm: str = "sleep",
    ns: str = NS,
    cgroup: str = CID,
) -> None:
    d = root / "proc" / str(host)
    (d / "ns").mkdir(parents=True)
    fields = [state, str(ppid)] + ["0"] * 17 + [str(start)] + ["0"] * 10
    (d / "stat").write_text(f"{host} ({comm}) {' '.join(fields)}\n")
    (d / "status").write_text(
        f"Name:\t{comm[:15]}\nState:\t{state}\nPPid:\t{ppid}\n"
        f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}\nNSpid:\t{' '.join(map(str, nspid))}\n"
    )
    (d / "cmdline").write_bytes(cmd)
    (d / "cgroup").write_text(f"0::/{cgroup}\n")
    os.symlink(ns, d / "ns" / "pid")


def cgroup(root: Path, *pids: int, base: str = "unified") -> None:
    d = root / "sys" / base / CID
    d.mkdir(parents=True)
    (d / "cgroup.procs").write_text("".join(f"{p}\n" for p in pids))


def rows(root: Path, init: int = 100) -> list[dict[str, Any]]:
    return _proc.container_rows(init, proc=str(root / "proc"), cgroup_root=str(root / "sys"))


def container(tmp_path: Path) -> None:
    """init (100 → 1), a shell the agent's exec started (parent outside: 0) and two workers."""
    proc(tmp_path, 100, [100, 1], ppid=90, cmd=b"sleep\x00infinity\x00", start=10)
    proc(tmp_path, 201, [201, 7], ppid=80, cmd=b"bash\x00-c\x00xargs -P 2 sh\x00", comm="bash")
    proc(tmp_path, 202, [202, 8], ppid=201, cmd=b"xargs\x00-P\x002\x00", comm="xargs")
    proc(tmp_path, 203, [203, 9], ppid=202)
    proc(tmp_path, 204, [204, 10], ppid=202)
    proc(tmp_path, 90, [90], ppid=1, uid=0, cmd=b"containerd-shim\x00", ns="pid:[1]")


def test_rows_are_the_containers_view(tmp_path: Path) -> None:
    container(tmp_path)
    cgroup(tmp_path, 100, 201, 202, 203, 204)
    got = rows(tmp_path)
    assert [(r["pid"], r["ppid"]) for r in got] == [(1, 0), (7, 0), (8, 7), (9, 8), (10, 8)]
    assert got[0] == {"pid": 1, "ppid": 0, "uid": 1000, "start": 10, "cmd": "sleep infinity"}
    assert got[1]["cmd"] == "bash -c xargs -P 2 sh" and got[3]["start"] == 5000


def test_without_a_cgroup_folder_the_pid_namespace_is_scanned(tmp_path: Path) -> None:
    container(tmp_path)  # no /sys tree at all: the shim (another namespace) is not a member
    assert [r["pid"] for r in rows(tmp_path)] == [1, 7, 8, 9, 10]


def test_a_v1_controller_folder_serves_too(tmp_path: Path) -> None:
    container(tmp_path)
    for host in (100, 201, 202, 203, 204):
        (tmp_path / "proc" / str(host) / "cgroup").write_text(f"5:pids:/{CID}\n")
    cgroup(tmp_path, 100, 203, base="pids")  # the listing is the cgroup's, not the namespace's
    assert [r["pid"] for r in rows(tmp_path)] == [1, 9]


def test_a_cgroup_path_that_climbs_out_is_not_followed(tmp_path: Path) -> None:
    container(tmp_path)
    elsewhere = tmp_path / "sys" / "elsewhere"
    elsewhere.mkdir(parents=True)
    (elsewhere / "cgroup.procs").write_text("203\n")  # what `unified/../elsewhere` would list
    (tmp_path / "proc" / "100" / "cgroup").write_text("0::/../elsewhere\n")
    assert [r["pid"] for r in rows(tmp_path)] == [1, 7, 8, 9, 10]  # the namespace scan


def test_gone_zombie_root_and_host_processes_are_left_out(tmp_path: Path) -> None:
    container(tmp_path)
    proc(tmp_path, 205, [205, 11], ppid=202, state="Z")
    proc(tmp_path, 206, [206, 12], ppid=100, uid=0, cmd=b"python3\x00-c\x00survey\x00")
    proc(tmp_path, 207, [207], ppid=1, cmd=b"host-daemon\x00")  # in the cgroup, not the ns
    cgroup(tmp_path, 100, 201, 202, 203, 204, 205, 206, 207, 999)  # 999 ended since
    assert [r["pid"] for r in rows(tmp_path)] == [1, 7, 8, 9, 10]


def test_a_half_written_entry_is_skipped(tmp_path: Path) -> None:
    container(tmp_path)
    (tmp_path / "proc" / "203" / "status").write_text("Name:\tsleep\n")  # no NSpid, no Uid
    (tmp_path / "proc" / "204" / "stat").write_text("204 (sleep")  # cut short
    cgroup(tmp_path, 100, 201, 202, 203, 204)
    assert [r["pid"] for r in rows(tmp_path)] == [1, 7, 8]


def test_command_lines_are_bounded_and_names_cannot_shift_fields(tmp_path: Path) -> None:
    container(tmp_path)
    huge = b"python3\x00" + b"A" * 5_000_000 + b"\x00\xff\xfe"
    proc(tmp_path, 208, [208, 13], ppid=202, cmd=huge, comm="x) R 1 2 (y", start=777)
    proc(tmp_path, 209, [209, 14], ppid=202, cmd=b"\x00\x00\x00")
    cgroup(tmp_path, 100, 208, 209)
    got = {r["pid"]: r for r in rows(tmp_path)}
    assert got[13]["start"] == 777 and got[13]["ppid"] == 0  # its parent is not listed
    assert got[13]["cmd"].startswith("python3 AAAA") and len(got[13]["cmd"]) == 300
    assert got[14]["cmd"] == ""


def test_a_nested_pid_namespace_reads_at_the_containers_level(tmp_path: Path) -> None:
    container(tmp_path)
    proc(tmp_path, 210, [210, 15, 1], ppid=201, ns="pid:[4026532999]")
    proc(tmp_path, 211, [211, 16, 2], ppid=210, ns="pid:[4026532999]")
    cgroup(tmp_path, 100, 201, 210, 211)
    got = {r["pid"]: r["ppid"] for r in rows(tmp_path)}
    assert got == {1: 0, 7: 0, 15: 7, 16: 15}


def test_an_init_without_a_namespace_of_its_own_or_gone_raises(tmp_path: Path) -> None:
    proc(tmp_path, 100, [100], ppid=1)
    with pytest.raises(OSError, match="namespace"):
        rows(tmp_path)
    with pytest.raises(OSError):
        rows(tmp_path, init=4242)


def test_a_linked_entry_is_not_followed(tmp_path: Path) -> None:
    container(tmp_path)
    os.symlink(tmp_path / "proc" / "203", tmp_path / "proc" / "300")
    cgroup(tmp_path, 100, 300)
    assert [r["pid"] for r in rows(tmp_path)] == [1]


def test_the_table_is_bounded(tmp_path: Path) -> None:
    proc(tmp_path, 100, [100, 1], ppid=90)
    many = range(1000, 1000 + _proc.MAX_PROCESSES + 20)
    for host in many:
        proc(tmp_path, host, [host, host - 900], ppid=100)
    cgroup(tmp_path, 100, *many)
    assert len(rows(tmp_path)) == _proc.MAX_PROCESSES
