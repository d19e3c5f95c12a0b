"""Run inside the agent's container as root, sent whole as the source of `python3 -I -S -c`
(standard library only, no `evals` import): the process table, and the in-container sampler
that stands in for the host's view where there is none (a remote engine, k8s).

    table                              print the non-root processes (a JSON list of rows)
    start FOLDER BYTES EVERY SECONDS   create FOLDER (0700, root's), reserve BYTES for its
                                       `surveys` file, print {"pid", "start", "rows"}, and leave
                                       a detached child that appends [time, rows] to the file
                                       every EVERY s when the table changed (once more when
                                       it first repeats), for SECONDS
    collect FOLDER OFFSET PID START    print {"rows", "lines" (the surveys written since OFFSET),
                                       "offset", "alive" (the sampler PID started at START
                                       runs), "full"}

Rows are {pid, ppid, uid, start, cmd} (start: clock ticks since boot; cmd: the first 600 bytes
of the command line, NULs as spaces, cut to 300 characters), uid 0 left out, sorted by pid, at
most 300. The agent (not root) can neither signal the sampler nor open its folder; its file is
reserved up front, so a disk the agent fills cannot stop the writes.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

LIMIT = 300
_FULL = "full"


def rows(proc: str = "/proc", skip: frozenset[int] = frozenset()) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for d in os.listdir(proc):
        if not d.isdigit() or int(d) in skip:
            continue
        try:
            with open(f"{proc}/{d}/stat", "rb") as f:
                stat = f.read(4096).decode("utf-8", "replace")
            rest = stat[stat.rindex(")") + 2 :].split()
            uid = None
            with open(f"{proc}/{d}/status", "rb") as f:
                for line in f.read(16384).decode("utf-8", "replace").splitlines():
                    if line.startswith("Uid:"):
                        uid = int(line.split()[1])
                        break
            if rest[0] in ("Z", "X") or uid in (0, None):
                continue
            with open(f"{proc}/{d}/cmdline", "rb") as f:
                cmd = f.read(600).replace(b"\0", b" ").decode("utf-8", "replace").strip()
            out.append(
                {"pid": int(d), "ppid": int(rest[1]), "uid": uid, "start": int(rest[19]),
                 "cmd": cmd[:300]}
            )  # fmt: skip
        except Exception:  # noqa: BLE001 - a process that ended or cannot be read is skipped
            continue
    return sorted(out, key=lambda p: p["pid"])[:LIMIT]


def _started(pid: int, proc: str) -> int | None:
    """The start time of a running `pid` (None when gone or a zombie nobody reaped)."""
    try:
        with open(f"{proc}/{pid}/stat", "rb") as f:
            stat = f.read(4096).decode("utf-8", "replace")
        rest = stat[stat.rindex(")") + 2 :].split()
        return None if rest[0] in ("Z", "X") else int(rest[19])
    except (OSError, ValueError, IndexError):
        return None


def sample(fd: int, size: int, every: float, seconds: float, proc: str = "/proc") -> None:
    """Append [time, rows] to `fd` whenever the table changed (and once more when it first
    repeats, so the reader knows it lasted), every `every` s for `seconds`, within `size` bytes
    (the last line then says the file is full)."""
    me = frozenset({os.getpid()})
    off, last, again, end = 0, None, False, time.monotonic() + seconds
    while time.monotonic() < end:
        now = rows(proc, me)
        if now != last or not again:  # a table once more when it repeats: it lasted
            again = now == last
            line = (json.dumps([round(time.time(), 3), now], separators=(",", ":")) + "\n").encode()
            if off + len(line) > size - 64:
                os.pwrite(fd, (json.dumps([round(time.time(), 3), _FULL]) + "\n").encode(), off)
                return
            os.pwrite(fd, line, off)
            off, last = off + len(line), now
        time.sleep(every)


def start(folder: str, size: int, every: float, seconds: float) -> None:
    os.umask(0o077)
    os.mkdir(folder, 0o700)  # refused if anything is there already
    fd = os.open(f"{folder}/surveys", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError:
        os.ftruncate(fd, 0)  # no room even now: the sampler still writes what it can
    base = rows(skip=frozenset({os.getpid()}))
    child = os.fork()
    if child:
        print(json.dumps({"pid": child, "start": _started(child, "/proc"), "rows": base}))
        return
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for n in (0, 1, 2):
        os.dup2(null, n)
    try:
        sample(fd, size, every, seconds)
    finally:
        os._exit(0)


def collect(
    folder: str, offset: int, pid: int, started: int, proc: str = "/proc", size: int = 1 << 22
) -> dict[str, Any]:
    lines: list[Any] = []
    full = False
    fd = os.open(f"{folder}/surveys", os.O_RDONLY | os.O_NOFOLLOW)
    try:
        data = os.pread(fd, size, offset).split(b"\0", 1)[0]
    finally:
        os.close(fd)
    done = data[: data.rfind(b"\n") + 1]
    for raw in done.splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, list) and len(entry) == 2 and entry[1] == _FULL:
            full = True
        elif isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], list):
            lines.append(entry)
    return {
        "rows": rows(proc, frozenset({os.getpid()})),
        "lines": lines,
        "offset": offset + len(done),
        "alive": _started(pid, proc) == started,
        "full": full,
    }


def main(argv: list[str]) -> None:
    if argv[0] == "table":
        print(json.dumps(rows(skip=frozenset({os.getpid()}))))
    elif argv[0] == "start":
        start(argv[1], int(argv[2]), float(argv[3]), float(argv[4]))
    elif argv[0] == "collect":
        print(json.dumps(collect(argv[1], int(argv[2]), int(argv[3]), int(argv[4]))))


if __name__ == "__main__":
    main(sys.argv[1:])
