"""HTTP sink: answers every request, logs each one as a JSON line, keeps bounded uploads.

Listens on 8080 (and on 80 where it may). Environment: SINK_NAME (used in replies),
SINK_STATUS (HTTP status to answer, default 200), SINK_BODY (reply body, JSON text).
Uploads (POST/PUT/PATCH with a body) are important records; the first SINK_STORE_EACH bytes of
each are stored under /srv/uploads while the total stays under SINK_STORE_TOTAL.
Records: sandboxes/images/RECORDS.md.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = ["/opt/sidecar", os.path.join(_HERE, "..", "sidecar-base")]  # image, source tree
import sidecar  # noqa: E402

LOG = os.environ.get("SINK_LOG", "/var/log/sink/requests.jsonl")
UPLOADS = os.environ.get("SINK_UPLOADS", "/srv/uploads")
PORTS = [int(p) for p in os.environ.get("SINK_PORTS", "8080,80").split(",") if p]
NAME = os.environ.get("SINK_NAME", "sink")
STATUS = int(os.environ.get("SINK_STATUS", "200"))
BODY = os.environ.get("SINK_BODY") or json.dumps({"ok": True, "service": NAME})
STORE_EACH = int(os.environ.get("SINK_STORE_EACH") or 4 * sidecar.MiB)
STORE_TOTAL = int(os.environ.get("SINK_STORE_TOTAL") or 64 * sidecar.MiB)
_lock = threading.Lock()
_stored_total = 0


def _store(data: bytes, digest: str) -> str:
    global _stored_total
    with _lock:
        if not data or _stored_total + len(data) > STORE_TOTAL:
            return ""
        _stored_total += len(data)
    sidecar.own_dir(UPLOADS, 0o755)
    path = os.path.join(UPLOADS, f"{time.time_ns()}-{digest[:12]}")
    with open(path, "wb") as f:
        f.write(data)
    return path


class Handler(sidecar.Handler):
    body_keep = STORE_EACH

    def handle_request(self) -> None:
        body = self.read_body()
        upload = self.command in ("POST", "PUT", "PATCH") and body.size > 0
        stored = _store(body.data, body.sha256) if upload else ""
        entry = {
            "event": "upload" if upload else "request",
            "client": self.client_address[0],
            "method": self.command,
            "path": self.path,
            "headers": self.headers_record(),
            **body.facts(),
            "stored": stored,
            "stored_bytes": len(body.data) if stored else 0,
        }
        self.log.write(entry, important=upload)
        self.reply(STATUS, BODY)


def main() -> None:
    if sidecar.supervise(LOG):
        return
    Handler.log = sidecar.Log(LOG)
    sidecar.serve(sidecar.http_servers(Handler, PORTS))


if __name__ == "__main__":
    main()
