"""The lever snapshot read from the docker host through `/proc/<pid>/root` (no `docker exec`,
no Python start in the container: the in-container snapshot costs ~30 ms of CPU per tool call).

Same record as the in-container script (evals/detectors/_trace.py's `_SCRIPT`), field for
field; a lever whose in-container answer could differ from what the host sees is left out of
the result, and the caller reads it through the exec path. The truth for grading is the
container's: what root in the container (no capabilities: no DAC override) sees, then the
agent's user for what root may not open. So the host view reads a lever only when all of these
hold, and otherwise hands it back:

- the path is canonical (absolute, no `.`/`..`/`//`, no trailing `/`), no component on the way
  is a symlink and the lever itself is not one (its `real` and `target` are the container's
  `realpath`/`readlink`);
- root in the container may search every directory on the way and read the lever (its mode by
  owner/group/other class, as the kernel checks it for uid 0 without capabilities), and none of
  them carries a POSIX ACL: host root's DAC override would read a mode-000 lever the container
  reports `denied`, or a mode-600 one the exec path reads as the agent;
- nothing changes under the walk (the lever's inode is the one lstat-ed), and it ends before
  its deadline.

Safety, against a lever or a parent swapped for a symlink (to `/etc/shadow`, to `/`) at any
moment: every component is opened relative to the previous one's fd with
`O_PATH|O_NOFOLLOW|O_DIRECTORY` starting from the container's root fd (never a host path; `..`
never walked), the lever `lstat`-ed with `dir_fd`, opened only when regular with
`O_RDONLY|O_NOFOLLOW|O_NONBLOCK` and checked to be the inode lstat-ed; a symlink that appears
between the lstat and the open fails the open (ELOOP) and the lever goes to the exec path.
Reads are bounded (HASH_CAP hashed, TEXT_CAP kept) and checked against a deadline.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import posixpath
import stat
import time
from typing import Any

__all__ = ["host_levers"]

_DIR_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CHUNK = 1 << 20
_ACL = ("system.posix_acl_access", "system.posix_acl_default")
_R, _X = 4, 1


class _Exec(Exception):
    """This lever is read through the exec path."""


def _canonical(path: str) -> bool:
    return (
        path.startswith("/")
        and not path.startswith("//")
        and path != "/"
        and "\0" not in path
        and posixpath.normpath(path) == path
    )


def _root_may(st: os.stat_result, bit: int) -> None:
    """Raise unless uid 0 without capabilities (root in the container) has `bit` (r or x) on
    this inode. Root's groups in the container are taken to be {0}: where a file's group and
    other classes disagree on the bit, group membership would decide, so the exec path does."""
    mode = st.st_mode
    if st.st_uid == 0:
        allowed = mode & (bit << 6)
    elif st.st_gid == 0:
        allowed = mode & (bit << 3)
    else:
        if bool(mode & (bit << 3)) != bool(mode & bit):
            raise _Exec
        allowed = mode & bit
    if not allowed:
        raise _Exec


def _no_acl(fd: int) -> None:
    try:
        names = os.listxattr(f"/proc/self/fd/{fd}")
    except OSError as ex:
        if ex.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return
        raise _Exec from ex
    if any(name in _ACL for name in names):
        raise _Exec


def _same(a: os.stat_result, b: os.stat_result) -> None:
    if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino):
        raise _Exec


def _kind(mode: int) -> str:
    return (
        "file"
        if stat.S_ISREG(mode)
        else "symlink"
        if stat.S_ISLNK(mode)
        else "dir"
        if stat.S_ISDIR(mode)
        else "fifo"
        if stat.S_ISFIFO(mode)
        else "socket"
        if stat.S_ISSOCK(mode)
        else "char"
        if stat.S_ISCHR(mode)
        else "block"
        if stat.S_ISBLK(mode)
        else "other"
    )


def _content(
    fd: int, st: os.stat_result, rec: dict[str, Any], caps: tuple[int, int, int], deadline: float
) -> None:
    """As the in-container script: sha256 of at most HASH_CAP bytes, text up to TEXT_CAP, a
    binary lever's head (trailing zeros out) up to HEAD_CAP."""
    hash_cap, text_cap, head_cap = caps
    h, n, head = hashlib.sha256(), 0, b""
    while n < hash_cap:
        if time.monotonic() > deadline:
            raise _Exec
        b = os.read(fd, min(_CHUNK, hash_cap - n))
        if not b:
            break
        h.update(b)
        n += len(b)
        if len(head) < text_cap + 1:
            head += b[: text_cap + 1 - len(head)]
    rec["sha256"] = h.hexdigest()
    rec["hashed"] = n
    if n < st.st_size:
        rec["partial"] = True
    if len(head) <= text_cap:
        try:
            rec["text"] = head.decode("utf-8")
        except UnicodeDecodeError:
            rec["binary"] = True
    else:
        rec["oversized"] = True
    if "text" not in rec and (rec.get("binary") or b"\0" in head):
        rec["head_b64"] = base64.b64encode(head[:head_cap].rstrip(b"\0")).decode()


def _lever(root_fd: int, path: str, caps: tuple[int, int, int], deadline: float) -> dict[str, Any]:
    if not _canonical(path):
        raise _Exec
    *parents, name = path[1:].split("/")
    opened: list[int] = []
    try:
        cur = root_fd
        cur_st = os.fstat(root_fd)
        _no_acl(cur)
        for part in parents:
            _root_may(cur_st, _X)
            try:
                st = os.stat(part, dir_fd=cur, follow_symlinks=False)
            except FileNotFoundError:
                return {"type": "missing"}
            if stat.S_ISLNK(st.st_mode):
                raise _Exec  # the container resolves it (a parent swapped for a symlink)
            if not stat.S_ISDIR(st.st_mode):
                return {"type": "missing", "error": "a parent is not a directory"}
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=cur)
            except OSError as ex:
                raise _Exec from ex  # swapped since the stat
            opened.append(nxt)
            cur_st = os.fstat(nxt)
            _same(st, cur_st)
            _no_acl(nxt)
            cur = nxt
        _root_may(cur_st, _X)
        try:
            st = os.stat(name, dir_fd=cur, follow_symlinks=False)
        except FileNotFoundError:
            return {"type": "missing"}
        m = st.st_mode
        kind = _kind(m)
        if kind == "symlink":
            raise _Exec  # its `real` is the container's realpath
        rec: dict[str, Any] = {
            "type": kind,
            "mode": stat.S_IMODE(m),
            "size": st.st_size,
            "uid": st.st_uid,
            "mtime": st.st_mtime,
            "nlink": st.st_nlink,
        }
        if kind not in ("file", "dir"):
            return rec  # a FIFO, socket or device is never opened
        _root_may(st, _R)
        try:
            fd = os.open(name, _READ_FLAGS | (os.O_DIRECTORY if kind == "dir" else 0), dir_fd=cur)
        except OSError as ex:
            raise _Exec from ex  # ELOOP: swapped for a symlink since the lstat
        opened.append(fd)
        now = os.fstat(fd)
        _same(st, now)
        if stat.S_IFMT(now.st_mode) != stat.S_IFMT(m):
            raise _Exec
        _no_acl(fd)
        if kind == "dir":
            rec["entries"] = sorted(os.listdir(fd))[:200]
        else:
            _content(fd, st, rec, caps, deadline)
        return rec
    except _Exec:
        raise
    except OSError as ex:
        raise _Exec from ex  # whatever the container would say about it, the exec path says
    finally:
        for fd in opened:
            os.close(fd)


def host_levers(
    root_fd: int,
    paths: list[str],
    *,
    hash_cap: int,
    text_cap: int,
    head_cap: int,
    deadline: float,
) -> dict[str, dict[str, Any]]:
    """The levers read through the container's root fd (`root_fd`, from the host's
    /proc/<pid>/root); a lever missing from the result is read through the exec path."""
    out: dict[str, dict[str, Any]] = {}
    for path in dict.fromkeys(paths):
        if time.monotonic() > deadline:
            break
        try:
            out[path] = _lever(root_fd, path, (hash_cap, text_cap, head_cap), deadline)
        except _Exec:
            continue
    return out
