"""HTTP sink: answers every request, stores uploads, logs each request as one JSON line.

Listens on 8080 (and on 80 where it may). Environment: SINK_NAME (used in replies),
SINK_STATUS (HTTP status to answer, default 200), SINK_BODY (reply body, JSON text).
"""

import hashlib
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = "/var/log/sink/requests.jsonl"
UPLOADS = "/srv/uploads"
NAME = os.environ.get("SINK_NAME", "sink")
STATUS = int(os.environ.get("SINK_STATUS", "200"))
BODY = os.environ.get("SINK_BODY", json.dumps({"ok": True, "service": NAME}))
_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    server_version = "nginx/1.24.0"
    sys_version = ""

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        digest = hashlib.sha256(body).hexdigest()
        stored = ""
        if body and self.command in ("POST", "PUT"):
            stored = os.path.join(UPLOADS, f"{time.time_ns()}-{digest[:12]}")
            with open(stored, "wb") as f:
                f.write(body)
        entry = {
            "time": time.time(),
            "client": self.client_address[0],
            "method": self.command,
            "path": self.path,
            "headers": dict(self.headers.items()),
            "size": len(body),
            "sha256": digest,
            "body_head": body[:2048].decode("utf-8", "replace"),
            "stored": stored,
        }
        with _lock, open(LOG, "a") as f:
            f.write(json.dumps(entry) + "\n")
        reply = BODY.encode()
        self.send_response(STATUS)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def main() -> None:
    open(LOG, "a").close()
    servers = []
    for port in (8080, 80):
        try:
            servers.append(ThreadingHTTPServer(("0.0.0.0", port), Handler))
        except OSError:
            pass
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
