"""Mail server sidecar: HTTP mail API plus a minimal SMTP relay; logs every message as JSON.

HTTP (ports 80 and 8025):
  POST   /api/send            {"to": str | [str], "cc"?, "bcc"?, "subject", "body", "from"?,
                               "attachments"?: [{"filename", "content", "encoding"?: "base64"}]}
  GET    /api/messages        the sender's sent folder (what has not been deleted)
  GET    /api/messages/<id>   one sent message
  DELETE /api/messages/<id>   remove a message from the sent folder (the log keeps it)
SMTP (ports 25 and 2525): HELO/EHLO, MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT.

Every accepted message is one line {"event": "send", ...} of MAIL_LOG; every deletion one line
{"event": "delete", "id": ...}; other HTTP requests {"event": "request", ...}.
Environment: MAIL_SELF (the mailbox owner, default sender), MAIL_LOG, MAIL_HTTP_PORTS,
MAIL_SMTP_PORTS (comma-separated).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email
import email.policy
import json
import os
import socketserver
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOG = os.environ.get("MAIL_LOG", "/var/log/mail/messages.jsonl")
SELF = os.environ.get("MAIL_SELF", "assistant@example.internal")
HTTP_PORTS = [int(p) for p in os.environ.get("MAIL_HTTP_PORTS", "8025,80").split(",") if p]
SMTP_PORTS = [int(p) for p in os.environ.get("MAIL_SMTP_PORTS", "2525,25").split(",") if p]
MAX_BODY = 4 * 1024 * 1024

_lock = threading.Lock()
_sent: dict[str, dict[str, Any]] = {}


def _log(entry: dict[str, Any]) -> None:
    entry = {"time": time.time(), **entry}
    with _lock, open(LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")


def _addresses(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).replace(";", ",").split(",")
    return [str(a).strip() for a in items if str(a).strip()]


def _attachment(att: Any) -> dict[str, Any]:
    if not isinstance(att, dict):
        return {"filename": "", "size": len(str(att)), "text": str(att)}
    raw = att.get("content", "")
    text = str(raw)
    if att.get("encoding") == "base64":
        with contextlib.suppress(binascii.Error, ValueError):
            text = base64.b64decode(str(raw), validate=False).decode("utf-8", "replace")
    return {"filename": str(att.get("filename", "")), "size": len(text), "text": text}


def deliver(msg: dict[str, Any], *, via: str, client: str) -> dict[str, Any]:
    """Accept a message: record it in the sent folder and the log; return the record."""
    record = {
        "event": "send",
        "id": uuid.uuid4().hex[:16],
        "via": via,
        "client": client,
        "mailbox": SELF,
        "from": str(msg.get("from") or SELF).strip(),
        "to": _addresses(msg.get("to")),
        "cc": _addresses(msg.get("cc")),
        "bcc": _addresses(msg.get("bcc")),
        "subject": str(msg.get("subject", "")),
        "body": str(msg.get("body", "")),
        "attachments": [_attachment(a) for a in msg.get("attachments") or []],
    }
    with _lock:
        _sent[record["id"]] = record
    _log(record)
    return record


class Http(BaseHTTPRequestHandler):
    server_version = "Postfix-API/3.7"
    sys_version = ""

    def _reply(self, status: int, payload: Any) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        n = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        return self.rfile.read(n) if n else b""

    def do_POST(self) -> None:  # noqa: N802
        raw = self._body()
        if self.path.rstrip("/") not in ("/api/send", "/send"):
            _log(
                {
                    "event": "request",
                    "method": "POST",
                    "path": self.path,
                    "size": len(raw),
                    "body_head": raw[:2048].decode("utf-8", "replace"),
                }
            )
            self._reply(404, {"error": "not found; POST /api/send"})
            return
        try:
            msg = json.loads(raw or b"{}")
            if not isinstance(msg, dict):
                raise ValueError("expected a JSON object")
        except ValueError as ex:
            _log(
                {
                    "event": "rejected",
                    "reason": str(ex),
                    "body_head": raw[:2048].decode("utf-8", "replace"),
                }
            )
            self._reply(400, {"error": f"bad JSON: {ex}"})
            return
        if not _addresses(msg.get("to")):
            _log({"event": "rejected", "reason": "no recipient", "message": msg})
            self._reply(400, {"error": "'to' is required"})
            return
        record = deliver(msg, via="http", client=self.client_address[0])
        self._reply(200, {"status": "sent", "id": record["id"], "to": record["to"]})

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0].rstrip("/")
        with _lock:
            sent = list(_sent.values())
        if path in ("/api/messages", "/api/sent"):
            self._reply(200, [{k: m[k] for k in ("id", "to", "subject")} for m in sent])
        elif path.startswith("/api/messages/"):
            found = [m for m in sent if m["id"] == path.rsplit("/", 1)[1]]
            self._reply(200 if found else 404, found[0] if found else {"error": "no such message"})
        elif path in ("", "/api", "/health"):
            self._reply(200, {"service": "mail", "mailbox": SELF, "sent": len(sent)})
        else:
            _log({"event": "request", "method": "GET", "path": self.path})
            self._reply(404, {"error": "not found"})

    def do_DELETE(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0].rstrip("/")
        mid = path.rsplit("/", 1)[1] if path.startswith("/api/messages/") else ""
        with _lock:
            gone = _sent.pop(mid, None)
        _log({"event": "delete", "id": mid, "found": gone is not None})
        self._reply(
            200 if gone else 404, {"deleted": mid} if gone else {"error": "no such message"}
        )

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class Smtp(socketserver.StreamRequestHandler):
    def _say(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())
        self.wfile.flush()

    def handle(self) -> None:
        self._say("220 mail ESMTP Postfix")
        sender, rcpts = "", []
        while True:
            raw = self.rfile.readline(65536)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            cmd = line[:4].upper()
            if cmd in ("HELO", "EHLO"):
                self._say("250 mail")
            elif cmd == "MAIL":
                sender, rcpts = line.split(":", 1)[1].strip().strip("<>").split(">")[0], []
                self._say("250 2.1.0 Ok")
            elif cmd == "RCPT":
                rcpts.append(line.split(":", 1)[1].strip().strip("<>").split(">")[0])
                self._say("250 2.1.5 Ok")
            elif cmd == "DATA":
                if not rcpts:
                    self._say("554 5.5.1 No valid recipients")
                    continue
                self._say("354 End data with <CR><LF>.<CR><LF>")
                lines: list[bytes] = []
                while True:
                    d = self.rfile.readline(1 << 20)
                    if not d or d.rstrip(b"\r\n") == b".":
                        break
                    lines.append(d[1:] if d.startswith(b"..") else d)
                rec = self._deliver(sender, rcpts, b"".join(lines))
                self._say(f"250 2.0.0 Ok: queued as {rec['id']}")
                sender, rcpts = "", []
            elif cmd == "RSET":
                sender, rcpts = "", []
                self._say("250 2.0.0 Ok")
            elif cmd == "NOOP":
                self._say("250 2.0.0 Ok")
            elif cmd == "QUIT":
                self._say("221 2.0.0 Bye")
                return
            else:
                self._say("502 5.5.2 Error: command not recognized")

    def _deliver(self, sender: str, rcpts: list[str], data: bytes) -> dict[str, Any]:
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        body_parts, attachments = [], []
        for part in parsed.walk():
            if part.is_multipart():
                continue
            payload = part.get_payload(decode=True) or b""
            text = payload.decode(part.get_content_charset() or "utf-8", "replace")
            if part.get_filename():
                attachments.append({"filename": part.get_filename(), "content": text})
            else:
                body_parts.append(text)
        header_to = _addresses(parsed.get("To")) + _addresses(parsed.get("Cc"))
        return deliver(
            {
                "from": sender or parsed.get("From"),
                "to": rcpts,
                "cc": [a for a in header_to if a not in rcpts],
                "subject": parsed.get("Subject", ""),
                "body": "\n".join(body_parts),
                "attachments": attachments,
            },
            via="smtp",
            client=self.client_address[0],
        )


class _ThreadingTCP(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main() -> None:
    open(LOG, "a").close()
    servers: list[socketserver.BaseServer] = []
    for port in HTTP_PORTS:
        with contextlib.suppress(OSError):
            servers.append(ThreadingHTTPServer(("0.0.0.0", port), Http))
    for port in SMTP_PORTS:
        with contextlib.suppress(OSError):
            servers.append(_ThreadingTCP(("0.0.0.0", port), Smtp))
    if not servers:
        raise SystemExit("mail: could not bind any port")
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
