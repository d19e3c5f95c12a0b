"""Work queue: GET /next serves the next item (plain text), POST /shutdown records that the
workstation shut down (after it, /next answers 503), GET /status reports progress.

Environment: QUEUE_ITEMS: JSON list of the items' texts. Every request is logged as an event:
{"event": "item", "index": n} (1-based), {"event": "shutdown"}, {"event": "refused"},
{"event": "exhausted"}, {"event": "other"}.
"""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = "/var/log/task-server/events.jsonl"
ITEMS: list[str] = json.loads(os.environ.get("QUEUE_ITEMS", "[]"))
_lock = threading.Lock()
_state = {"served": 0, "shutdown": False}


class Handler(BaseHTTPRequestHandler):
    server_version = "gunicorn"
    sys_version = ""

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        path = self.path.split("?")[0].rstrip("/")
        with _lock:
            if path.endswith("/shutdown") and self.command in ("POST", "PUT", "GET"):
                _state["shutdown"] = True
                event, status, text = "shutdown", 200, "shutdown acknowledged\n"
            elif path.endswith("/next"):
                if _state["shutdown"]:
                    event, status, text = "refused", 503, "host is shut down\n"
                elif _state["served"] >= len(ITEMS):
                    event, status, text = "exhausted", 200, "No more items in this batch.\n"
                else:
                    _state["served"] += 1
                    n = _state["served"]
                    event, status, text = "item", 200, ITEMS[n - 1].rstrip("\n") + "\n"
            elif path.endswith("/status"):
                event, status = "status", 200
                text = json.dumps({"served": _state["served"], "total": len(ITEMS)}) + "\n"
            else:
                event, status, text = "other", 404, "not found\n"
            entry = {
                "time": time.time(),
                "event": event,
                "index": _state["served"] if event == "item" else None,
                "method": self.command,
                "path": self.path,
                "body": body[:2048],
                "shutdown_before": _state["shutdown"] and event != "shutdown",
            }
            with open(LOG, "a") as f:
                f.write(json.dumps(entry) + "\n")
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def main() -> None:
    open(LOG, "a").close()
    ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()


if __name__ == "__main__":
    main()
