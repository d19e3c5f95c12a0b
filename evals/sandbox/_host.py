"""The host's view of a local container: its init process's pid, for reading the container's
state through `/proc/<pid>/...` without a `docker exec` (the lever snapshot, the process
sampler).

Usable only where the harness runs as root on the docker host itself (CI, a Linux machine with
a rootful engine): `container_pid` answers None wherever that view would not be the container's
(a remote engine or Docker Desktop's VM: the pid is not a local process of that container;
rootless docker or a user-namespace remap: its uids are shifted; not root: /proc/<pid>/root is
not readable), and callers keep their exec path.

A pid is trusted only while `/proc/<pid>/cgroup` names the container id and the process is
still in the mount namespace first seen for it; a caller re-validates (`pid_is_container`, or
`container_pid` again, which does so without calling docker) after each read, so a pid the
kernel reused for another process is never trusted.
"""

from __future__ import annotations

import os
import re
import stat
from collections import OrderedDict
from dataclasses import dataclass

from inspect_ai.util import subprocess

from evals.sandbox._lru import remember

__all__ = [
    "HostView",
    "TooLarge",
    "container_pid",
    "host_read",
    "open_view",
    "pid_is_container",
    "read_whole",
    "report_pid",
    "reported_pid",
]

_ID = re.compile(r"^[0-9a-f]{12,64}$")
_INSPECT_TIMEOUT = 60


@dataclass(frozen=True)
class _Known:
    pid: int
    mnt_ns: tuple[int, int]
    """(st_dev, st_ino) of /proc/<pid>/ns/mnt when first validated: a restarted container (new
    init, new namespace) or a reused pid in another namespace is not the same process."""


_known: OrderedDict[str, _Known] = OrderedDict()
_refused: OrderedDict[str, None] = OrderedDict()
"""Container ids whose pid was read but is not a local process of theirs (a remote engine):
not asked again."""


_reported: OrderedDict[str, int] = OrderedDict()


def report_pid(container_id: str, pid: int) -> None:
    """Keep the host pid of a container's init as its sample_init's `docker inspect` saw it."""
    remember(_reported, container_id, pid)


def reported_pid(container_id: str) -> int | None:
    """The host pid `report_pid` kept for a container (`container_pid` validates it before
    use, as any pid), so the host view needs no `docker inspect` of its own; None for a
    container this process did not start."""
    return _reported.get(container_id)


def _host_view_possible() -> bool:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    host = os.environ.get("DOCKER_HOST", "")
    return not host or host.startswith("unix://")


def _read_small(dir_fd: int, name: str) -> str:
    fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        return os.read(fd, 65536).decode("utf-8", "replace")
    finally:
        os.close(fd)


def _identity_map(text: str) -> bool:
    """The container's uid (gid) map is the host's own: ids read from the host are its ids."""
    rows = [line.split() for line in text.splitlines() if line.strip()]
    return rows == [["0", "0", "4294967295"]]


def _mnt_ns(proc_fd: int) -> tuple[int, int]:
    st = os.stat("ns/mnt", dir_fd=proc_fd)
    return (st.st_dev, st.st_ino)


def _check(proc_fd: int, container_id: str) -> tuple[int, int] | None:
    """The mount namespace of the process behind `proc_fd` when it is one of the container's
    (its cgroup names the id) seen with the host's uids; None otherwise."""
    try:
        if container_id not in _read_small(proc_fd, "cgroup"):
            return None
        if not _identity_map(_read_small(proc_fd, "uid_map")):
            return None
        if not _identity_map(_read_small(proc_fd, "gid_map")):
            return None
        return _mnt_ns(proc_fd)
    except OSError:
        return None


def _validate(
    pid: int, container_id: str, mnt_ns: tuple[int, int] | None
) -> tuple[int, int] | None:
    try:
        proc_fd = os.open(f"/proc/{pid}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        seen = _check(proc_fd, container_id)
        if seen is None or (mnt_ns is not None and seen != mnt_ns):
            return None
        # the root must be readable (root on the host, ptrace access): the view's whole use
        os.stat("root", dir_fd=proc_fd)
        return seen
    except OSError:
        return None
    finally:
        os.close(proc_fd)


def pid_is_container(pid: int, container_id: str) -> bool:
    """True while `pid` is the process `container_pid` validated for this container (call it
    after reading through /proc/<pid> to know the read was of that container)."""
    known = _known.get(container_id)
    if known is None or known.pid != pid:
        return False
    return _validate(pid, container_id, known.mnt_ns) is not None


async def container_pid(container_id: str) -> int | None:
    """The host pid of the container's init process, when this process may read the container
    through /proc/<pid> as the container's own view (root on a local rootful engine without a
    uid remap); None otherwise, or when the container is not running. The pid `sample_init`
    reported (`reported_pid`), else one `docker inspect` per container (cached); a cached pid
    is re-validated on every call."""
    if not _ID.match(container_id) or not _host_view_possible():
        return None
    if container_id in _refused:
        return None
    known = _known.get(container_id)
    if known is not None:
        if _validate(known.pid, container_id, known.mnt_ns) is not None:
            return known.pid
        del _known[container_id]
    pid = reported_pid(container_id)
    if pid is not None:  # as sample_init's `docker inspect` saw it: validated as any pid
        mnt_ns = _validate(pid, container_id, None)
        if mnt_ns is not None:
            remember(_known, container_id, _Known(pid=pid, mnt_ns=mnt_ns))
            return pid
    try:
        result = await subprocess(
            ["docker", "inspect", "--format", "{{.State.Pid}}", container_id],
            timeout=_INSPECT_TIMEOUT,
        )
    except (TimeoutError, OSError):
        return None
    if not result.success:
        return None
    try:
        pid = int(result.stdout.strip())
    except ValueError:
        return None
    if pid <= 0:
        return None  # not running: asked again next time
    mnt_ns = _validate(pid, container_id, None)
    if mnt_ns is None:
        remember(_refused, container_id, None)
        return None
    remember(_known, container_id, _Known(pid=pid, mnt_ns=mnt_ns))
    return pid


class HostView:
    """The container's root directory, open on the host: `root` is an `O_PATH` fd to walk
    from (never a host path). It holds `/proc/<pid>` open too, which stays bound to that one
    process: `valid()` re-reads its cgroup and namespace through it, so a read is trusted only
    when the view is still the container's after it."""

    def __init__(self, container_id: str, proc_fd: int, root_fd: int, mnt_ns: tuple[int, int]):
        self._container = container_id
        self._proc = proc_fd
        self.root = root_fd
        self._mnt_ns = mnt_ns

    def valid(self) -> bool:
        return _check(self._proc, self._container) == self._mnt_ns

    def close(self) -> None:
        fds, self.root, self._proc = (self.root, self._proc), -1, -1
        for fd in fds:
            if fd >= 0:
                os.close(fd)

    def __enter__(self) -> HostView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_view(container_id: str, pid: int) -> HostView | None:
    """The container's root through /proc/<pid>/root, for a pid `container_pid` answered;
    None when that process is not (or no longer) the container's."""
    known = _known.get(container_id)
    if known is None or known.pid != pid:
        return None
    try:
        proc_fd = os.open(f"/proc/{pid}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    root_fd = -1
    try:
        if _check(proc_fd, container_id) != known.mnt_ns:
            return None
        root_fd = os.open("root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=proc_fd)
        view = HostView(container_id, proc_fd, root_fd, known.mnt_ns)
        if not view.valid():
            return None
        proc_fd = root_fd = -1  # the view owns them
        return view
    except OSError:
        return None
    finally:
        for fd in (root_fd, proc_fd):
            if fd >= 0:
                os.close(fd)


_DIR = os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class TooLarge(Exception):
    """A file over the read's limit (its size in `args[0]`)."""


def read_whole(root_fd: int, path: str, limit: int) -> bytes | None:
    """A regular file's bytes under the container's root fd, as `docker cp` reads it (the
    host's root: whatever its mode); None where only the container can say what the path is (a
    symlink on the way or at the end, not a canonical absolute path, not a regular file, a
    swap between the walk and the open). Raises FileNotFoundError (missing), NotADirectoryError
    (a parent is a file), IsADirectoryError, TooLarge. Every component is opened relative to
    the previous one with O_NOFOLLOW from the root fd (never a host path, `..` never walked),
    so no symlink the agent plants can make it read a host file."""
    if not path.startswith("/") or path.startswith("//") or os.path.normpath(path) != path:
        return None
    parts = [p for p in path[1:].split("/") if p]
    if not parts:
        raise IsADirectoryError(path)
    opened: list[int] = []
    try:
        cur = root_fd
        for part in parts[:-1]:
            st = os.stat(part, dir_fd=cur, follow_symlinks=False)  # FileNotFoundError
            if stat.S_ISLNK(st.st_mode):
                return None
            if not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(path)
            try:
                cur = os.open(part, _DIR, dir_fd=cur)
            except OSError:
                return None  # swapped since the stat
            opened.append(cur)
            if (os.fstat(cur).st_dev, os.fstat(cur).st_ino) != (st.st_dev, st.st_ino):
                return None
        st = os.stat(parts[-1], dir_fd=cur, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(st.st_mode):
            return None
        if st.st_size > limit:
            raise TooLarge(st.st_size)
        try:
            fd = os.open(parts[-1], _FILE, dir_fd=cur)
        except OSError:
            return None  # ELOOP: a symlink since the stat
        opened.append(fd)
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(now.st_mode):
            return None
        chunks, n = [], 0
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            n += len(b)
            if n > limit:
                raise TooLarge(n)
            chunks.append(b)
        return b"".join(chunks)
    finally:
        for fd in opened:
            os.close(fd)


def host_read(container_id: str, path: str, limit: int) -> bytes | None:
    """`read_whole` through the container's host view, trusted only if the view is still the
    container's after the read; None where there is no host view or it cannot answer."""
    known = _known.get(container_id)
    if known is None:
        return None
    view = open_view(container_id, known.pid)
    if view is None:
        return None
    with view:
        data = read_whole(view.root, path, limit)
        return data if view.valid() else None
