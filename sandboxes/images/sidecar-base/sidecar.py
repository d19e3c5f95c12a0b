"""Shared plumbing of every sidecar: a bounded, append-only JSON-lines log, a hardened threading
HTTP server, a streaming request-body reader and a supervisor that restarts a crashed server.

Stdlib only (the images have no pip). Copied to /opt/sidecar/sidecar.py in the `sidecar-base`
image that every sidecar builds FROM; a sidecar's server.py finds it there, or beside its own
folder in the source tree (tests run server.py straight from sandboxes/images/<name>/).

The log (see sandboxes/images/RECORDS.md for each sidecar's records):
- every record is one line, never longer than LINE_CAP: text fields are clipped (TEXT_CAP per
  string, with the clipped paths listed in "clipped"), then clipped harder until it fits;
- the first FULL_BYTES of the file hold full records; past that, only *important* records (a
  sent message, an upload, a privileged call, a work item) are written, in compact form
  (COMPACT_TEXT per string), and noise is counted in periodic {"event": "suppressed"} lines;
- past CAP_BYTES - RESERVE, important records shrink to a minimal form; past CAP_BYTES nothing is
  written (counted in memory only). The file only ever grows: opened O_APPEND, never truncated.
Environment: SIDECAR_LOG_FULL, SIDECAR_LOG_CAP (bytes) override the budgets.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MiB = 1024 * 1024
TEXT_CAP = 64 * 1024
"""Characters of one string field in a full record."""
COMPACT_TEXT = 4096
"""Characters of one string field in a compact record."""
LINE_CAP = 1 * MiB
"""Bytes of one log line, at most."""
FULL_BYTES = 8 * MiB
CAP_BYTES = 32 * MiB
RESERVE = 1 * MiB
"""The last bytes below CAP_BYTES, kept for minimal records of important events."""
MAX_ITEMS = 256
"""Items of one list or dict in a record."""
MAX_HEADERS = 64
HEADER_VALUE_CAP = 2048
HEADER_DEADLINE = 20.0
"""Seconds a client has to send its request line and headers (slowloris)."""
IDLE_TIMEOUT = 30.0
"""Seconds of silence on a socket before the connection is dropped."""
MAX_CONNECTIONS = 128
KEEP_BUDGET = 192 * MiB
"""Bytes of request bodies held in memory across all requests at once."""
CHUNK = 256 * 1024


# --------------------------------------------------------------------------- bounded records


def clip(value: Any, text: int, items: int = MAX_ITEMS, depth: int = 8,
         path: str = "", clipped: list[str] | None = None) -> Any:  # fmt: skip
    """`value` with every string cut to `text` characters and every list/dict to `items`
    entries (deeper than `depth`: replaced by a marker); cut paths are appended to `clipped`."""
    if isinstance(value, str):
        if len(value) > text:
            if clipped is not None and len(clipped) < 64:
                clipped.append(path or ".")
            return value[:text]
        return value
    if isinstance(value, bytes):
        return clip(value.decode("utf-8", "replace"), text, items, depth, path, clipped)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if depth <= 0:
        if clipped is not None and len(clipped) < 64:
            clipped.append(path or ".")
        return "<too deep>"
    if isinstance(value, dict):
        out = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= items:
                if clipped is not None and len(clipped) < 64:
                    clipped.append(f"{path}.*" if path else "*")
                break
            key = str(k)[:256]
            out[key] = clip(v, text, items, depth - 1, f"{path}.{key}" if path else key, clipped)
        return out
    if isinstance(value, (list, tuple)):
        if len(value) > items and clipped is not None and len(clipped) < 64:
            clipped.append(f"{path}[]")
        return [
            clip(v, text, items, depth - 1, f"{path}.{i}" if path else str(i), clipped)
            for i, v in enumerate(value[:items])
        ]
    return clip(str(value), text, items, depth, path, clipped)


def _dumps(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode(
        "utf-8", "replace"
    )


def bounded_line(record: dict[str, Any], text: int, cap: int = LINE_CAP) -> bytes:
    """The record as one JSON line of at most `cap` bytes: strings clipped to `text`
    characters, then harder until it fits; last resort, only its scalar top-level fields."""
    limit, items = text, MAX_ITEMS
    while limit >= 64:
        clipped: list[str] = []
        rec = clip(record, limit, items, clipped=clipped)
        if clipped:
            rec["clipped"] = clipped
        line = _dumps(rec)
        if len(line) <= cap:
            return line
        limit, items = limit // 4, max(8, items // 2)
    scalars = {
        k: (v[:256] if isinstance(v, str) else v)
        for k, v in list(record.items())[:32]
        if v is None or isinstance(v, (str, int, float, bool))
    }
    return _dumps({**scalars, "oversize": True})[:cap]


def own_dir(path: str, mode: int = 0o750) -> None:
    """Make the sidecar's own directory (its log's, its state's) where it is missing: the
    writable areas start empty but for their top directories (/var/log and /srv there are
    world-writable and sticky, like /tmp), so the sidecar makes its directories itself, as
    its own user. One that exists is left as it is (an image or a k8s seed made it)."""
    if path and not os.path.isdir(path):
        try:
            os.makedirs(path, mode=mode, exist_ok=True)
        except OSError:
            pass  # the open that follows says what is wrong


class Log:
    """The sidecar's append-only JSON-lines log, bounded in line size and total size."""

    def __init__(self, path: str, *, full: int = FULL_BYTES, cap: int = CAP_BYTES,
                 line_cap: int = LINE_CAP, compact_cap: int = 16 * 1024) -> None:  # fmt: skip
        self.path = path
        full = int(os.environ.get("SIDECAR_LOG_FULL") or full)  # the scenario's setting wins
        cap = int(os.environ.get("SIDECAR_LOG_CAP") or cap)
        self.full, self.cap, self.line_cap = full, max(cap, full + 2 * RESERVE), line_cap
        self.compact_cap = compact_cap
        self.lock = threading.Lock()
        own_dir(os.path.dirname(path))
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self.size = os.fstat(self.fd).st_size
        self.suppressed = {"requests": 0, "bytes": 0}
        self.dropped = 0
        self._reported = dict(self.suppressed)
        threading.Thread(target=self._report_loop, daemon=True).start()

    def _append(self, line: bytes) -> bool:
        self.size = os.fstat(self.fd).st_size  # the supervisor appends too
        if self.size + len(line) > self.cap:
            self.dropped += 1
            return False
        os.write(self.fd, line)  # O_APPEND: one write, one whole line
        self.size += len(line)
        return True

    def write(self, record: dict[str, Any], *, important: bool = False,
              compact: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:  # fmt: skip
        """Append `record` (with "time" added first); never raises."""
        try:
            self._write(record, important, compact)
        except Exception as ex:  # noqa: BLE001 - the log must not take the server down
            with contextlib.suppress(Exception):
                sys.stderr.write(f"sidecar log: {type(ex).__name__}: {ex}\n")

    def _write(self, record: dict[str, Any], important: bool,
               compact: Callable[[dict[str, Any]], dict[str, Any]] | None) -> None:  # fmt: skip
        record = {"time": round(time.time(), 6), **record}
        line = bounded_line(record, TEXT_CAP, self.line_cap)
        with self.lock:
            self.size = os.fstat(self.fd).st_size
            if self.size + len(line) <= self.full:
                self._append(line)
                return
            if not important:
                self.suppressed["requests"] += 1
                self.suppressed["bytes"] += len(line)
                return
        small = dict(compact(record) if compact else record)
        small["compact"] = True
        line = bounded_line(small, COMPACT_TEXT, self.compact_cap)
        with self.lock:
            if self.size + len(line) <= self.cap - RESERVE:
                self._append(line)
                return
        minimal = bounded_line({**small, "minimal": True}, 160, 2048)
        with self.lock:
            self._append(minimal)

    def _report_loop(self) -> None:
        while True:
            time.sleep(2.0)
            with self.lock:
                if self.suppressed == self._reported:
                    continue
                self._reported = dict(self.suppressed)
                rec = {"time": round(time.time(), 6), "event": "suppressed",
                       "note": "noise past the log budget: counted, not stored",
                       **self._reported, "dropped": self.dropped}  # fmt: skip
                line = _dumps(rec)
                if self.size + len(line) <= self.cap - RESERVE // 2:
                    self._append(line)


# --------------------------------------------------------------------------- request bodies

_keep_lock = threading.Lock()
_kept = 0


def _reserve(n: int) -> int:
    """Grant up to n bytes of the global in-memory budget for request bodies."""
    global _kept
    with _keep_lock:
        grant = max(0, min(n, KEEP_BUDGET - _kept))
        _kept += grant
        return grant


def _release(n: int) -> None:
    global _kept
    with _keep_lock:
        _kept = max(0, _kept - n)


class BodyError(Exception):
    pass


def body_chunks(rfile: Any, headers: Any) -> Iterator[bytes]:
    """The request body, decoded from Content-Length or chunked transfer, CHUNK bytes at most
    at a time. Raises BodyError on a malformed framing (bad length, bad chunk size)."""
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        while True:
            line = rfile.readline(1024)
            if not line:
                return
            try:
                n = int(line.split(b";")[0].strip() or b"0", 16)
            except ValueError:
                raise BodyError("bad chunk size") from None
            if n < 0:
                raise BodyError("bad chunk size")
            if n == 0:
                for _ in range(64):  # trailers
                    t = rfile.readline(8192)
                    if not t or not t.strip():
                        break
                return
            left = n
            while left:
                data = rfile.read(min(CHUNK, left))
                if not data:
                    return
                left -= len(data)
                yield data
            rfile.readline(16)
        return
    raw = headers.get("Content-Length")
    if raw is None:
        return
    try:
        left = int(str(raw).strip())
    except ValueError:
        raise BodyError("bad Content-Length") from None
    if left < 0:
        raise BodyError("bad Content-Length")
    while left > 0:
        data = rfile.read(min(CHUNK, left))
        if not data:
            return
        left -= len(data)
        yield data


class Body:
    """A request body read whole from the socket: size and sha256 of all of it, the first
    `keep` bytes held (within the process-wide budget), `complete` if nothing was cut."""

    def __init__(self, keep: int) -> None:
        self.size = 0
        self.sha = hashlib.sha256()
        self.kept = bytearray()
        self.want = keep
        self.granted = 0
        self.error = ""
        self.consumers: list[Callable[[bytes], None]] = []

    @property
    def data(self) -> bytes:
        return bytes(self.kept)

    @property
    def complete(self) -> bool:
        return len(self.kept) == self.size and not self.error

    @property
    def sha256(self) -> str:
        return self.sha.hexdigest()

    def feed(self, data: bytes) -> None:
        self.size += len(data)
        self.sha.update(data)
        room = self.want - len(self.kept)
        if room > 0:
            take = data[:room]
            need = len(self.kept) + len(take) - self.granted
            if need > 0:
                self.granted += _reserve(need)
            take = take[: max(0, self.granted - len(self.kept))]
            self.kept += take
        for c in self.consumers:
            c(data)

    def release(self) -> None:
        _release(self.granted)
        self.granted = 0
        self.kept = bytearray()

    def facts(self, head: int = 2048) -> dict[str, Any]:
        """size, sha256 and the first `head` bytes as text (what most records carry)."""
        return {
            "size": self.size,
            "sha256": self.sha256,
            "body_head": bytes(self.kept[:head]).decode("utf-8", "replace"),
            **({"body_error": self.error} if self.error else {}),
        }


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --------------------------------------------------------------------------- HTTP server

_conns_lock = threading.Lock()
_conns: dict[socket.socket, float] = {}
"""Open connections still reading their headers -> deadline."""


def _reaper() -> None:
    while True:
        time.sleep(1.0)
        now = time.monotonic()
        with _conns_lock:
            late = [s for s, t in _conns.items() if t < now]
            for s in late:
                _conns.pop(s, None)
        for s in late:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    """Base request handler: subclasses implement `handle_request()` and use `read_body()`,
    `reply()`, `headers_record()`. Any exception becomes a 500 reply and an `error` record."""

    server_version = "nginx/1.24.0"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    log: Log
    body_keep = 1 * MiB
    """Bytes of a request body held in memory for parsing (the rest is hashed, not kept)."""

    def setup(self) -> None:
        super().setup()
        self._body: Body | None = None

    def finish(self) -> None:
        with _conns_lock:
            _conns.pop(self.connection, None)
        with contextlib.suppress(Exception):
            super().finish()

    def parse_request(self) -> bool:
        ok = super().parse_request()
        with _conns_lock:
            _conns.pop(self.connection, None)
        return ok

    def handle_one_request(self) -> None:
        with _conns_lock:  # the request line and headers must arrive by the deadline
            _conns[self.connection] = time.monotonic() + HEADER_DEADLINE
        self._body = None
        try:
            super().handle_one_request()
        except (OSError, ValueError):
            self.close_connection = True
        finally:
            if self._body is not None:
                self._body.release()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # malformed request line / headers: answered, counted as noise, never fatal
        self.log.write(
            {"event": "malformed", "status": code, "reason": str(message or "")[:200],
             "client": self.client_address[0]}  # fmt: skip
        )
        self.close_connection = True
        with contextlib.suppress(Exception):
            super().send_error(code, message, explain)

    def read_body(self, keep: int | None = None,
                  consumers: list[Callable[[bytes], None]] | None = None) -> Body:  # fmt: skip
        """Read the whole body (hashing all of it, holding `keep` bytes of it)."""
        body = Body(self.body_keep if keep is None else keep)
        body.consumers = list(consumers or [])
        self._body = body
        try:
            for data in body_chunks(self.rfile, self.headers):
                body.feed(data)
        except BodyError as ex:
            body.error = str(ex)
            self.close_connection = True
        except (OSError, TimeoutError) as ex:
            body.error = f"connection: {type(ex).__name__}"
            self.close_connection = True
        return body

    def headers_record(self) -> dict[str, str]:
        """The request headers, at most MAX_HEADERS, each value at most HEADER_VALUE_CAP."""
        out: dict[str, str] = {}
        for i, (k, v) in enumerate(self.headers.items()):
            if i >= MAX_HEADERS:
                out["x-sidecar-omitted-headers"] = str(len(self.headers) - MAX_HEADERS)
                break
            key = str(k)[:128]
            out[key] = (out[key] + ", " if key in out else "") + str(v)[:HEADER_VALUE_CAP]
        return out

    def reply(self, status: int, payload: Any, *, content_type: str = "application/json",
              extra: dict[str, str] | None = None) -> None:  # fmt: skip
        if isinstance(payload, (bytes, str)):
            data = payload.encode() if isinstance(payload, str) else payload
        else:
            data = (json.dumps(payload, indent=2, ensure_ascii=False) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _dispatch(self) -> None:
        try:
            self.handle_request()
        except (OSError, TimeoutError):
            self.close_connection = True
        except Exception as ex:  # noqa: BLE001 - one bad request never stops the server
            self.log.write(
                {"event": "error", "method": self.command, "path": self.path[:2048],
                 "error": f"{type(ex).__name__}: {ex}"[:1000]}  # fmt: skip
            )
            self.close_connection = True
            with contextlib.suppress(Exception):
                self.reply(500, {"error": "internal error"})

    def handle_request(self) -> None:
        raise NotImplementedError

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _dispatch

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def process_request(self, request: Any, client_address: Any) -> None:
        if threading.active_count() > MAX_CONNECTIONS + 8:
            self.shutdown_request(request)  # too many open connections: refuse this one
            return
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a broken connection is not worth a traceback


class TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def process_request(self, request: Any, client_address: Any) -> None:
        if threading.active_count() > MAX_CONNECTIONS + 8:
            self.shutdown_request(request)
            return
        request.settimeout(IDLE_TIMEOUT)
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


def serve(servers: list[socketserver.BaseServer]) -> None:
    """Serve forever on every server (the first on this thread)."""
    if not servers:
        raise SystemExit("sidecar: could not bind any port")
    threading.stack_size(512 * 1024)
    threading.Thread(target=_reaper, daemon=True).start()
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    servers[0].serve_forever()


def http_servers(handler: type[Handler], ports: list[int]) -> list[socketserver.BaseServer]:
    out: list[socketserver.BaseServer] = []
    for port in ports:
        with contextlib.suppress(OSError):
            out.append(Server(("0.0.0.0", port), handler))
    return out


# --------------------------------------------------------------------------- supervisor


def supervise(log_path: str) -> bool:
    """In the container's main process: fork a child that serves, and fork a new one whenever
    it dies (killed for memory, crashed), recording each restart. Returns False in the child
    (go on and serve). SIDECAR_SUPERVISE=0 serves directly (tests).

    A fork, not a new interpreter: the child starts from the supervisor's state, which is the
    server module as imported (every server loads its state after this returns), without a
    second interpreter's start and imports (≈ 70 ms of CPU and its wall time before the
    sidecar listens, per sample). The supervisor starts no thread before the first child (its
    log is opened at the first restart), so that fork copies a single-threaded process."""
    if os.environ.get("SIDECAR_SUPERVISE") == "0":
        return False
    child = 0

    def stop(signum: int, _frame: Any) -> None:
        if child > 0:
            with contextlib.suppress(OSError):
                os.kill(child, signal.SIGTERM)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log: Log | None = None
    restarts = 0
    while True:
        started = time.monotonic()
        child = os.fork()
        if child == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            return False
        try:
            _, status = os.waitpid(child, 0)
        except ChildProcessError:
            status = 0
        code = os.waitstatus_to_exitcode(status)
        restarts += 1
        log = log or Log(log_path)
        log.write({"event": "restart", "exit": code, "restarts": restarts}, important=True)
        time.sleep(0.2 if time.monotonic() - started > 5 else 1.0)
