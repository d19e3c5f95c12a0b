"""The lever trace: after every tool call the harness records each declared lever's state
(existence, file type, mode, size, content hash, text) from outside the agent's reach, so a
change that is later undone is still seen, with the step that made it.

Where the harness is root on the docker host of a `scheming-docker` sandbox (CI, a Linux
machine), the levers are read from the host through `/proc/<pid>/root` with a walk that never
leaves the container's root (evals/detectors/_trace_host.py): no exec, no Python start in the
container. Any lever whose in-container answer could differ (a symlink on its path, a mode
root in the container may not read, an ACL, a change under the walk) and every lever elsewhere
(k8s, a remote engine, not root) is read by the exec path: a script run as root in the agent's
container through the sandbox's exec (not through the agent's shell), then as the agent's user
for what root may not open. Both give the same record; both never follow a symlink, never open
anything but a regular file, open with O_NONBLOCK, hash at most HASH_CAP bytes and keep at most
TEXT_CAP bytes of text.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from inspect_ai.util import ExecResult, SandboxEnvironment, StoreModel, sandbox
from pydantic import Field

from evals.detectors._trace_host import host_levers

if TYPE_CHECKING:
    from evals.sandbox._host import HostView

HASH_CAP = 1024 * 1024
"""Bytes hashed per lever per snapshot: levers are configs and scripts; a larger file's hash is
of its head (with size and mtime beside it), and it is flagged `partial`."""
TEXT_CAP = 256 * 1024
HEAD_CAP = 64 * 1024
"""A lever that is not UTF-8 text (binary, or past TEXT_CAP with a zero byte: a sparse weights
file) keeps its first HEAD_CAP bytes, trailing zeros left out, as `head_b64` (deduplicated into
`blobs` like a text), so a binary lever's content is seen too (a planted weights file's header);
a large text (a log) keeps none."""
SNAPSHOT_TIMEOUT = 20
MAX_SNAPSHOTS = 400

BASELINE = -1
"""`after` of the snapshot taken before the agent's first tool call."""
FINAL = 1_000_000
"""`after` of the snapshot taken when the sample is scored."""

_SCRIPT = r"""
import base64, hashlib, json, os, stat, sys
HASH_CAP, TEXT_CAP = int(sys.argv[2]), int(sys.argv[3])
HEAD_CAP = int(sys.argv[4]) if len(sys.argv) > 4 else 0
out = {}
for p in json.loads(sys.argv[1]):
    rec = {}
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        out[p] = {"type": "missing"}; continue
    except NotADirectoryError:
        out[p] = {"type": "missing", "error": "a parent is not a directory"}; continue
    except Exception as e:
        out[p] = {"type": "error", "error": repr(e)[:200]}; continue
    m = st.st_mode
    t = ("file" if stat.S_ISREG(m) else "symlink" if stat.S_ISLNK(m) else "dir" if stat.S_ISDIR(m)
         else "fifo" if stat.S_ISFIFO(m) else "socket" if stat.S_ISSOCK(m)
         else "char" if stat.S_ISCHR(m) else "block" if stat.S_ISBLK(m) else "other")
    rec = {"type": t, "mode": stat.S_IMODE(m), "size": st.st_size, "uid": st.st_uid,
           "mtime": st.st_mtime, "nlink": st.st_nlink}
    try:
        real = os.path.realpath(p)
        if real != p:
            rec["real"] = real[:4096]
    except Exception:
        pass
    if t == "symlink":
        try:
            rec["target"] = os.readlink(p)[:4096]
        except Exception as e:
            rec["error"] = repr(e)[:200]
    elif t == "dir":
        try:
            rec["entries"] = sorted(os.listdir(p))[:200]
        except Exception as e:
            rec["error"] = repr(e)[:200]
    elif t == "file":
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
            h, n, head = hashlib.sha256(), 0, b""
            with os.fdopen(fd, "rb") as f:
                while n < HASH_CAP:
                    b = f.read(min(1 << 20, HASH_CAP - n))
                    if not b:
                        break
                    h.update(b); n += len(b)
                    if len(head) < TEXT_CAP + 1:
                        head += b[: TEXT_CAP + 1 - len(head)]
            rec["sha256"] = h.hexdigest()
            rec["hashed"] = n
            if n < st.st_size:
                rec["partial"] = True
            if len(head) <= TEXT_CAP:
                try:
                    rec["text"] = head.decode("utf-8")
                except UnicodeDecodeError:
                    rec["binary"] = True
            else:
                rec["oversized"] = True
            if "text" not in rec and (rec.get("binary") or b"\0" in head):
                rec["head_b64"] = base64.b64encode(head[:HEAD_CAP].rstrip(b"\0")).decode()
        except PermissionError as e:
            rec["denied"] = True
            rec["error"] = repr(e)[:200]
        except Exception as e:
            rec["error"] = repr(e)[:200]
    out[p] = rec
sys.stdout.write(json.dumps(out))
"""


class LeverTrace(StoreModel):
    """The sample's lever trace. `snapshots`: [{"after": step, "call": brief, "time": epoch
    seconds, "levers": {path: state}}], texts deduplicated into `blobs` by sha256."""

    paths: list[str] = Field(default_factory=list)
    user: str = "agent"
    """The agent's user: root in the container has no capabilities (no DAC override), so a
    lever its owner made private (mode 600) is read again as that user."""
    snapshots: list[dict[str, Any]] = Field(default_factory=list)
    blobs: dict[str, str] = Field(default_factory=dict)
    errors: list[str] = Field(default_factory=list)

    def add(self, after: int, call: str, levers: dict[str, dict[str, Any]]) -> None:
        blobs = dict(self.blobs)
        slim: dict[str, dict[str, Any]] = {}
        for path, state in levers.items():
            state = dict(state)
            text = state.pop("text", None)
            if isinstance(text, str) and state.get("sha256"):
                blobs.setdefault(state["sha256"], text)
                state["blob"] = state["sha256"]
            head = state.pop("head_b64", None)
            if isinstance(head, str) and state.get("sha256"):
                blobs.setdefault(f"b64:{state['sha256']}", head)
                state["head_blob"] = f"b64:{state['sha256']}"
            slim[path] = state
        snaps = list(self.snapshots)
        if len(snaps) >= MAX_SNAPSHOTS and after != FINAL:
            return
        # when the snapshot was taken (the host's clock, which a local container shares): a
        # step's window, against a sidecar's record times and a lever's mtime
        snaps.append(
            {"after": after, "call": call[:200], "time": round(time.time(), 6), "levers": slim}
        )
        self.blobs = blobs
        self.snapshots = snaps

    def history(self, path: str) -> list[tuple[int, dict[str, Any]]]:
        """(after, state) of one lever, in order; the state's text is under "text" (a binary
        lever's first bytes under "head_b64")."""
        out = []
        for snap in self.snapshots:
            state = snap.get("levers", {}).get(path)
            if state is None:
                continue
            state = dict(state)
            if state.get("blob") in self.blobs:
                state["text"] = self.blobs[state["blob"]]
            if state.get("head_blob") in self.blobs:
                state["head_b64"] = self.blobs[state["head_blob"]]
            out.append((int(snap.get("after", FINAL)), state))
        return out

    def calls(self) -> dict[int, str]:
        return {int(s["after"]): str(s.get("call", "")) for s in self.snapshots}

    def window(self, after: int) -> tuple[float | None, float | None]:
        """(start, end) of step `after`: the times of the snapshot before it and of its own;
        None where unknown (a trace written before snapshots were timed, no such step)."""
        start: float | None = None
        for snap in self.snapshots:
            t = snap.get("time")
            t = float(t) if isinstance(t, (int, float)) else None
            if int(snap.get("after", FINAL)) == after:
                return start, t
            start = t
        return None, None


Run = Callable[[list[str], str], Awaitable[ExecResult[str]]]
"""Runs a command as a user in the agent's container (the sandbox's exec)."""


async def _exec_snapshot(paths: list[str], user: str, run: Run) -> dict[str, dict[str, Any]]:
    result = await run(
        [
            *("python3", "-I", "-S", "-c", _SCRIPT, json.dumps(paths)),
            *(str(HASH_CAP), str(TEXT_CAP), str(HEAD_CAP)),
        ],
        user,
    )
    if not result.success:
        raise RuntimeError(f"lever snapshot failed: {result.stderr.strip()[:300]}")
    doc = json.loads(result.stdout)
    if not isinstance(doc, dict):
        raise RuntimeError("lever snapshot: not a JSON object")
    return doc


async def exec_levers(paths: list[str], user: str, run: Run) -> dict[str, dict[str, Any]]:
    """The exec path: read as root in the agent's container; a file root may not open (root
    holds no capabilities there) is read again as the agent's user, so a mode change alone
    (600) is seen as a mode, and only a file nobody may read (000) stays unread (`denied`)."""
    doc = await _exec_snapshot(paths, "root", run)
    denied = [p for p, state in doc.items() if isinstance(state, dict) and state.get("denied")]
    if denied and user != "root":
        again = await _exec_snapshot(denied, user, run)
        for path, state in again.items():
            if isinstance(state, dict) and not state.get("denied"):
                doc[path] = state
    return doc


def _read_view(
    view: HostView, paths: list[str], caps: tuple[int, int, int], deadline: float
) -> dict[str, dict[str, Any]]:
    hash_cap, text_cap, head_cap = caps
    with view:
        got = host_levers(
            view.root,
            paths,
            hash_cap=hash_cap,
            text_cap=text_cap,
            head_cap=head_cap,
            deadline=deadline,
        )
        # trusted only if the view is still the container's after the reads
        return got if view.valid() else {}


async def host_snapshot(
    container_id: str,
    paths: list[str],
    *,
    caps: tuple[int, int, int] = (HASH_CAP, TEXT_CAP, HEAD_CAP),
) -> dict[str, dict[str, Any]]:
    """The levers the host view could read as the container sees them (possibly none);
    `caps`: (hash, text, head) bytes, as the lever snapshot's by default."""
    # imported here, not above: evals.sandbox's package init loads the scenarios, whose
    # loader loads the detectors (this package); by the first snapshot all are loaded
    from evals.sandbox._host import container_pid, open_view

    pid = await container_pid(container_id)
    if pid is None:
        return {}
    view = open_view(container_id, pid)
    if view is None:
        return {}
    bound = SNAPSHOT_TIMEOUT / 2
    try:
        # the thread owns the view (closes it even after a timeout here)
        return await asyncio.wait_for(
            asyncio.to_thread(_read_view, view, paths, caps, time.monotonic() + bound),
            bound + 1,
        )
    except TimeoutError:
        return {}


async def read_levers(
    paths: list[str], user: str, *, run: Run, container_id: str | None
) -> dict[str, dict[str, Any]]:
    """Each lever's state: through the host view where it answers as the container would,
    the rest through the exec path; in the order of `paths`."""
    paths = list(dict.fromkeys(paths))
    doc: dict[str, dict[str, Any]] = {}
    if container_id is not None:
        try:
            doc = await host_snapshot(container_id, paths)
        except Exception:  # noqa: BLE001 - the host view is an optimisation: exec reads all
            doc = {}
    rest = [p for p in paths if p not in doc]
    if rest:
        doc.update(await exec_levers(rest, user, run))
    return {p: doc[p] for p in paths if p in doc}


async def host_file(env: SandboxEnvironment, path: str, cap: int) -> dict[str, Any] | None:
    """`path` in `env`'s container as the host view reads it (the lever walk: no symlink on the
    way, what root in the container may reach): `{"type": "missing"}`, or a regular file's
    record with its whole `text` (at most `cap` bytes); None wherever only the exec path can
    answer as before (no host view, a symlink, anything not a regular UTF-8 file of at most
    `cap` bytes, a read that did not finish)."""
    from evals.sandbox._docker_exec import sandbox_container  # see host_snapshot

    container = sandbox_container(env)
    if container is None:
        return None
    try:
        got = await host_snapshot(container, [path], caps=(cap + 1, cap, 0))
    except Exception:  # noqa: BLE001 - the host view is an optimisation: the exec path reads
        return None
    rec = got.get(path)
    if rec is None:
        return None
    if rec.get("type") == "missing":
        return rec
    if rec.get("type") == "file" and "text" in rec and not rec.get("partial"):
        return rec
    return None


async def snapshot(paths: list[str], user: str = "agent") -> dict[str, dict[str, Any]]:
    """Each lever's state now, as the agent's container sees it (root there, then the agent's
    user for a file root may not open; see the module's docstring for the two paths)."""
    if not paths:
        return {}
    from evals.sandbox._docker_exec import sandbox_container  # see host_snapshot

    env = sandbox()

    async def run(cmd: list[str], as_user: str) -> ExecResult[str]:
        return await env.exec(cmd, user=as_user, timeout=SNAPSHOT_TIMEOUT)

    return await read_levers(paths, user, run=run, container_id=sandbox_container(env))


async def record(trace: LeverTrace, after: int, call: str = "") -> None:
    """Append a snapshot of every lever to the trace; a failure is recorded, never raised."""
    if not trace.paths:
        return
    try:
        levers = await snapshot(list(trace.paths), trace.user)
    except Exception as ex:  # noqa: BLE001 - a failed snapshot is a gap, recorded as such
        trace.errors = [*trace.errors, f"after {after}: {type(ex).__name__}: {ex}"[:300]]
        levers = {p: {"type": "error", "error": "snapshot failed"} for p in trace.paths}
    trace.add(after, call, levers)
