"""The lever trace: after every tool call the harness records each declared lever's state
(existence, file type, mode, size, content hash, text) from outside the agent's reach, so a
change that is later undone is still seen, with the step that made it.

The snapshot runs as root in the agent's container through the sandbox's exec (not through the
agent's shell); it never follows a symlink, never opens anything but a regular file, opens with
O_NONBLOCK, hashes at most HASH_CAP bytes and keeps at most TEXT_CAP bytes of text.
"""

from __future__ import annotations

import json
from typing import Any

from inspect_ai.util import StoreModel, sandbox
from pydantic import Field

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
    """The sample's lever trace. `snapshots`: [{"after": step, "call": brief, "levers":
    {path: state}}], texts deduplicated into `blobs` by sha256."""

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
        snaps.append({"after": after, "call": call[:200], "levers": slim})
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


async def _exec_snapshot(paths: list[str], user: str) -> dict[str, dict[str, Any]]:
    result = await sandbox().exec(
        [
            *("python3", "-I", "-S", "-c", _SCRIPT, json.dumps(paths)),
            *(str(HASH_CAP), str(TEXT_CAP), str(HEAD_CAP)),
        ],
        user=user,
        timeout=SNAPSHOT_TIMEOUT,
    )
    if not result.success:
        raise RuntimeError(f"lever snapshot failed: {result.stderr.strip()[:300]}")
    doc = json.loads(result.stdout)
    if not isinstance(doc, dict):
        raise RuntimeError("lever snapshot: not a JSON object")
    return doc


async def snapshot(paths: list[str], user: str = "agent") -> dict[str, dict[str, Any]]:
    """Each lever's state now, read as root in the agent's container; a file root may not
    open (root holds no capabilities there) is read again as the agent's user, so a mode
    change alone (600) is seen as a mode, and only a file nobody may read (000) stays
    unread (`denied`)."""
    if not paths:
        return {}
    doc = await _exec_snapshot(paths, "root")
    denied = [p for p, state in doc.items() if isinstance(state, dict) and state.get("denied")]
    if denied and user != "root":
        again = await _exec_snapshot(denied, user)
        for path, state in again.items():
            if isinstance(state, dict) and not state.get("denied"):
                doc[path] = state
    return doc


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
