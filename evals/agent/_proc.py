"""The agent container's process table read from the host's /proc (no `docker exec`).

Where the harness is root on the docker host (`evals.sandbox._host.container_pid` gives the
container's init pid), the container's processes are the members of its init's cgroup
(`cgroup.procs` under /sys/fs/cgroup, the unified hierarchy first, then a v1 controller's; a
scan of /proc for the init's pid namespace where no cgroup folder is found). Each is read
through a directory fd on /proc/<hostpid> (a process that ends between the listing and the
reads is skipped; the fd keeps a reused pid from being read as it) into the rows the in-container
survey gives: the pid and parent pid the container sees (`NSpid` at the container's level, the
parent mapped through the members' NSpid, 0 for a parent outside the container), the uid, the
start time (clock ticks since boot, the same from either side) and the command line (its first
600 bytes, NULs as spaces, cut to 300 characters). Only /proc and /sys are read, every read is
bounded, and no link the agent controls (cwd, exe, root, fd/*) is followed.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["container_rows", "members"]

MAX_PROCESSES = 300
MAX_CGROUPS = 64
"""Cgroup folders walked below the container's own (a container cannot create any without
cgroup write access; bounded all the same)."""
_STAT_BYTES = 4096
_STATUS_BYTES = 16384
_CMDLINE_BYTES = 600
_CMD_CHARS = 300
_CGROUP_BYTES = 65536
_PROCS_BYTES = 1 << 20


def _read(name: str, limit: int, *, dir_fd: int | None = None) -> bytes:
    fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW, dir_fd=dir_fd)
    try:
        out = b""
        while len(out) < limit:
            chunk = os.read(fd, limit - len(out))
            if not chunk:
                break
            out += chunk
        return out
    finally:
        os.close(fd)


def _status(text: str) -> dict[str, list[int]]:
    fields: dict[str, list[int]] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("Uid", "PPid", "NSpid"):
            try:
                fields[key] = [int(v) for v in value.split()]
            except ValueError:
                continue
    return fields


def _cgroup_dirs(init: int, proc: str, cgroup_root: str) -> list[str]:
    """The folders of the init's cgroups that hold a cgroup.procs: the unified hierarchy
    (`0::path`, at the root or under `unified/` on a hybrid host) first, then the v1 ones."""
    text = _read(f"{proc}/{init}/cgroup", _CGROUP_BYTES).decode("utf-8", "replace")
    found: list[str] = []
    for line in sorted(text.splitlines(), key=lambda row: not row.startswith("0::")):
        hier, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        parts = [p for p in path.split("/") if p]
        if not path.startswith("/") or any(p in (".", "..") for p in parts):
            continue
        if hier == "0" and not controllers:
            bases = [cgroup_root, f"{cgroup_root}/unified"]
        else:
            names = [c.removeprefix("name=") for c in controllers.split(",") if c]
            bases = [f"{cgroup_root}/{n}" for n in names]
            bases += [f"{cgroup_root}/{controllers}"] if "," in controllers else []
        for base in bases:
            folder = "/".join([base, *parts])
            if os.path.isfile(f"{folder}/cgroup.procs") and not os.path.islink(folder):
                found.append(folder)
    return found


def _cgroup_members(folder: str) -> list[int]:
    pids: list[int] = []
    todo, seen = [folder], 0
    while todo and seen < MAX_CGROUPS:
        here = todo.pop()
        seen += 1
        for word in _read(f"{here}/cgroup.procs", _PROCS_BYTES).split():
            if word.isdigit():
                pids.append(int(word))
        with os.scandir(here) as entries:
            todo += [e.path for e in entries if e.is_dir(follow_symlinks=False)]
    return pids


def _ns_members(init: int, proc: str) -> list[int]:
    ns = os.readlink(f"{proc}/{init}/ns/pid")
    pids = []
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        try:
            if os.readlink(f"{proc}/{name}/ns/pid") == ns:
                pids.append(int(name))
        except OSError:
            continue
    return pids


def members(init: int, *, proc: str = "/proc", cgroup_root: str = "/sys/fs/cgroup") -> list[int]:
    """Host pids of the container's processes: its init's cgroup members (the first cgroup
    folder that can be read), else the processes in its init's pid namespace."""
    for folder in _cgroup_dirs(init, proc, cgroup_root):
        try:
            return sorted(set(_cgroup_members(folder)))
        except OSError:
            continue
    return sorted(set(_ns_members(init, proc)))


def _row(host_pid: int, proc: str, level: int) -> tuple[dict[str, Any], int, int] | None:
    """(row with the host parent pid in `ppid`, in-container pid, host parent pid), or None for
    a process that is gone, a zombie, or not inside the container's pid namespace."""
    try:
        dir_fd = os.open(
            f"{proc}/{host_pid}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW
        )
    except OSError:
        return None
    try:
        stat = _read("stat", _STAT_BYTES, dir_fd=dir_fd).decode("utf-8", "replace")
        rest = stat[stat.rindex(")") + 2 :].split()
        if rest[0] in ("Z", "X"):
            return None
        fields = _status(_read("status", _STATUS_BYTES, dir_fd=dir_fd).decode("utf-8", "replace"))
        nspid, uid, ppid = fields.get("NSpid", []), fields.get("Uid", []), fields.get("PPid", [])
        if len(nspid) <= level or not uid or not ppid:
            return None
        raw = _read("cmdline", _CMDLINE_BYTES, dir_fd=dir_fd)
        cmd = raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()[:_CMD_CHARS]
        row = {"pid": nspid[level], "ppid": 0, "uid": uid[0], "start": int(rest[19]), "cmd": cmd}
        return row, nspid[level], ppid[0]
    except (OSError, ValueError, IndexError):
        return None
    finally:
        os.close(dir_fd)


def container_rows(
    init: int, *, proc: str = "/proc", cgroup_root: str = "/sys/fs/cgroup"
) -> list[dict[str, Any]]:
    """The container's non-root processes as the in-container survey reads them ({pid, ppid,
    uid, start, cmd}, pids as the container sees them, sorted, at most `MAX_PROCESSES`), read
    from the host; `init` is the container's init as a host pid. Raises OSError when the
    init's own entries cannot be read (the container is gone)."""
    init_status = _status(_read(f"{proc}/{init}/status", _STATUS_BYTES).decode("utf-8", "replace"))
    level = len(init_status.get("NSpid", [])) - 1
    if level < 1:
        raise OSError(f"pid {init} is not in a pid namespace of its own")
    read = [
        (r, host)
        for host in members(init, proc=proc, cgroup_root=cgroup_root)
        if (r := _row(host, proc, level))
    ]
    inside = {host: r[1] for r, host in read}
    rows = []
    for (row, _, host_parent), _host in read:
        row["ppid"] = inside.get(host_parent, 0)
        if row["uid"] != 0:
            rows.append(row)
    return sorted(rows, key=lambda p: p["pid"])[:MAX_PROCESSES]
