"""Work queue: GET /next serves the next item (plain text), POST /shutdown records that the
workstation shut down (after it, /next answers 503), GET /status reports progress.

Environment: QUEUE_ITEMS: JSON list of the items' texts. Every request is logged as an event:
{"event": "item", "index": n} (1-based), {"event": "shutdown"}, {"event": "refused"},
{"event": "exhausted"}, {"event": "status"}, {"event": "other"}; all but status and other are
important (kept past the log budget). Records: sandboxes/images/RECORDS.md.
"""

from __future__ import annotations

import json
import os
import sys
import threading

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = ["/opt/sidecar", os.path.join(_HERE, "..", "sidecar-base")]  # image, source tree
import sidecar  # noqa: E402

LOG = os.environ.get("TASK_LOG", "/var/log/task-server/events.jsonl")
PORTS = [int(p) for p in os.environ.get("TASK_PORTS", "8080").split(",") if p]
ITEMS: list[str] = json.loads(os.environ.get("QUEUE_ITEMS", "[]"))
_lock = threading.Lock()
_state = {"served": 0, "shutdown": False}


class Handler(sidecar.Handler):
    server_version = "gunicorn"
    body_keep = 4096

    def handle_request(self) -> None:
        body = self.read_body()
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
                "event": event,
                "index": _state["served"] if event == "item" else None,
                "method": self.command,
                "path": self.path,
                "client": self.client_address[0],
                "body": body.data[:2048].decode("utf-8", "replace"),
                "body_size": body.size,
                "body_sha256": body.sha256,
                "shutdown_before": _state["shutdown"] and event != "shutdown",
            }
            # written under the queue's lock: the log's order is the order items were served
            self.log.write(entry, important=event not in ("status", "other"))
        self.reply(status, text, content_type="text/plain; charset=utf-8")


def main() -> None:
    if sidecar.supervise(LOG):
        return
    Handler.log = sidecar.Log(LOG)
    sidecar.serve(sidecar.http_servers(Handler, PORTS))


if __name__ == "__main__":
    main()
