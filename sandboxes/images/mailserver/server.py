"""Mail server sidecar: HTTP mail API plus a minimal SMTP relay; logs every message as JSON.

HTTP (ports 80 and 8025):
  POST   /api/send            {"to": str | [str], "cc"?, "bcc"?, "subject", "body", "from"?,
                               "attachments"?: [{"filename", "content", "encoding"?: "base64"}]}
  GET    /api/messages        the sender's sent folder (what has not been deleted)
  GET    /api/messages/<id>   one sent message
  DELETE /api/messages/<id>   remove a message from the sent folder (the log keeps it)
SMTP (ports 25 and 2525): HELO/EHLO, MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT.

Every accepted message is one line {"event": "send", ...} of MAIL_LOG with the facts a grader
needs: every recipient parsed from every field (`recipients`), the decoded text of every text
part (`text`), and each attachment decoded and unpacked (gzip, bz2, xz, zip, tar, base64;
nested up to UNPACK_DEPTH, bounded). Deletions are {"event": "delete", "id": ...}, refusals
{"event": "rejected", ...} (all three important: kept past the log budget); other HTTP
requests {"event": "request", ...}. Records: sandboxes/images/RECORDS.md.
Environment: MAIL_SELF (the mailbox owner, default sender), MAIL_LOG, MAIL_HTTP_PORTS,
MAIL_SMTP_PORTS (comma-separated).
"""

from __future__ import annotations

import base64
import binascii
import bz2
import email
import email.header
import email.policy
import email.utils
import hashlib
import html.parser
import io
import json
import lzma
import os
import re
import socketserver
import sys
import tarfile
import threading
import time
import uuid
import zipfile
import zlib
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = ["/opt/sidecar", os.path.join(_HERE, "..", "sidecar-base")]  # image, source tree
import sidecar  # noqa: E402

LOG = os.environ.get("MAIL_LOG", "/var/log/mail/messages.jsonl")
SELF = os.environ.get("MAIL_SELF", "assistant@example.internal")
HTTP_PORTS = [int(p) for p in os.environ.get("MAIL_HTTP_PORTS", "8025,80").split(",") if p]
SMTP_PORTS = [int(p) for p in os.environ.get("MAIL_SMTP_PORTS", "2525,25").split(",") if p]
MAX_BODY = 8 * sidecar.MiB
"""Bytes of one message (HTTP JSON or SMTP DATA) accepted; larger ones are refused (logged)."""
UNPACK_DEPTH = 3
UNPACK_BYTES = 32 * sidecar.MiB
"""Decoded bytes per message, all attachments and layers together."""
UNPACK_SECONDS = 5.0
TEXT_BYTES = 256 * 1024
"""Characters of decoded text kept per attachment (the log clips fields further)."""
MAX_MEMBERS = 256

_lock = threading.Lock()
_sent: dict[str, dict[str, Any]] = {}
log: sidecar.Log | None = None


def _log(entry: dict[str, Any], important: bool = False) -> None:
    if log is not None:
        log.write(entry, important=important, compact=_compact)


def _compact(rec: dict[str, Any]) -> dict[str, Any]:
    out = dict(rec)
    out["attachments"] = [
        {k: v for k, v in a.items() if k != "content"}
        for a in (rec.get("attachments") or [])[:32]
        if isinstance(a, dict)
    ]
    return out


# --------------------------------------------------------------------------- recipients


def _split_addresses(value: str) -> list[str]:
    """An address-list header value split into single addresses: commas and semicolons
    separate, an RFC 5322 group `name: a, b;` contributes its members; quotes, angle brackets
    and comments are respected."""
    out, cur = [], []
    quote = False
    angle = paren = 0
    esc = False
    for ch in value:
        if esc:
            cur.append(ch)
            esc = False
            continue
        if ch == "\\" and (quote or paren):
            cur.append(ch)
            esc = True
            continue
        if quote:
            cur.append(ch)
            quote = ch != '"'
            continue
        if paren:
            cur.append(ch)
            paren += {"(": 1, ")": -1}.get(ch, 0)
            continue
        if ch == '"':
            quote = True
        elif ch == "(":
            paren = 1
        elif ch == "<":
            angle += 1
        elif ch == ">":
            angle = max(0, angle - 1)
        elif angle == 0 and ch == ":":
            cur = []  # a group's display name: its members follow
            continue
        elif angle == 0 and ch in ",;":
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return [a.strip() for a in out if a.strip()]


def _decode_words(text: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except Exception:  # noqa: BLE001 - a broken encoded word stays as written
        return text


def parse_recipients(value: Any, field: str) -> list[dict[str, str]]:
    """Every recipient in a header or API field (a string, or a list of strings or of
    {"address", "name"} objects) as {"field", "address" (lower-cased addr-spec), "name"}."""
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    out: list[dict[str, str]] = []
    for item in items[:1000]:
        if isinstance(item, dict):
            item = (
                f'"{item.get("name", "")}" <{item.get("address") or item.get("email") or ""}>'
            )
        for one in _split_addresses(str(item)):
            pairs = email.utils.getaddresses([one])
            name, addr = pairs[0] if pairs else ("", "")
            if "@" not in addr:  # unparseable: take the last thing that looks like an address
                found = re.findall(r"[^\s<>\"',;:()]+@[^\s<>\"',;:()]+", one)
                addr = found[-1] if found else one
            out.append(
                {"field": field, "address": addr.strip().lower(), "name": _decode_words(name)}
            )
    return out


# --------------------------------------------------------------------------- text


class _Text(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style", "head"):
            self.skip += 1
        elif tag in ("br", "p", "div", "tr", "li", "h1", "h2", "h3", "table"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head") and self.skip:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def html_text(markup: str) -> str:
    """HTML (or XML) reduced to its text."""
    p = _Text()
    try:
        p.feed(markup)
        p.close()
    except Exception:  # noqa: BLE001 - broken markup: strip tags bluntly
        return re.sub(r"<[^>]*>", " ", markup)
    return re.sub(r"[ \t]+", " ", "".join(p.parts)).strip()


def _looks_html(text: str) -> bool:
    return bool(re.search(r"<(html|body|p|div|br|span|table|a\s|b>|i>|font)[\s>/]", text[:4096], re.I))


def _decode_text(data: bytes, charset: str | None = None) -> str:
    for cs in (charset, "utf-8"):
        if cs:
            try:
                return data.decode(cs)
            except (LookupError, UnicodeDecodeError):
                continue
    return data.decode("latin-1")


def _is_text(data: bytes) -> bool:
    sample = data[:8192]
    if not sample:
        return True
    if b"\0" in sample:
        return False
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError as ex:
        if ex.start >= len(sample) - 4:  # a character cut by the sample's end
            return True
    bad = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return bad < len(sample) // 50


# --------------------------------------------------------------------------- attachments


class _Budget:
    def __init__(self) -> None:
        self.bytes = UNPACK_BYTES
        self.deadline = time.monotonic() + UNPACK_SECONDS
        self.truncated = False

    def take(self, n: int) -> int:
        grant = max(0, min(n, self.bytes))
        self.bytes -= grant
        if grant < n or time.monotonic() > self.deadline:
            self.truncated = True
        return grant

    def out(self) -> bool:
        if self.bytes <= 0 or time.monotonic() > self.deadline:
            self.truncated = True
            return True
        return False


def _inflate(data: bytes, kind: str, budget: _Budget) -> bytes:
    limit = budget.bytes
    if kind in ("gzip", "zlib"):
        obj: Any = zlib.decompressobj(wbits=31 if kind == "gzip" else 15)
        out = obj.decompress(data, limit + 1)
    elif kind == "bz2":
        obj = bz2.BZ2Decompressor()
        out = obj.decompress(data, limit + 1)
    else:
        obj = lzma.LZMADecompressor()
        out = obj.decompress(data, limit + 1)
    got = budget.take(len(out))
    return out[:got]


def _b64_payload(data: bytes) -> bytes | None:
    """`data` decoded, if it is plainly base64 of something (an archive or text)."""
    stripped = re.sub(rb"\s+", b"", data[: 64 * sidecar.MiB])
    if len(stripped) < 24 or not re.fullmatch(rb"[A-Za-z0-9+/]+={0,2}", stripped):
        return None
    if re.fullmatch(rb"[A-Za-z]+", stripped) or re.fullmatch(rb"[0-9]+", stripped):
        return None  # a long word or number, not base64
    try:
        out = base64.b64decode(stripped + b"=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        return None
    return out if _kind(out) or _is_text(out) else None


def _kind(data: bytes) -> str:
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:3] == b"BZh" and data[3:4].isdigit():
        return "bz2"
    if data[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if data[257:262] == b"ustar":
        return "tar"
    return ""


def unpack(name: str, data: bytes, budget: _Budget, depth: int = 0) -> tuple[list[str], list[str]]:
    """(texts, member names) of `data`: decoded and unpacked down to UNPACK_DEPTH layers."""
    if budget.out() and depth:
        return [], []
    kind = _kind(data)
    if depth < UNPACK_DEPTH and kind in ("gzip", "bz2", "xz"):
        try:
            inner = _inflate(data, kind, budget)
        except Exception:  # noqa: BLE001 - corrupt: keep what is there as bytes
            inner = b""
        if inner:
            inner_name = re.sub(r"\.(gz|tgz|bz2|xz)$", "", name) or name
            texts, members = unpack(inner_name, inner, budget, depth + 1)
            return texts, [f"{name}!{kind}", *members]
    if depth < UNPACK_DEPTH and kind == "zip":
        texts, members = [], []
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for info in zf.infolist()[:MAX_MEMBERS]:
                    if info.is_dir() or budget.out():
                        continue
                    with zf.open(info) as f:
                        body = f.read(budget.take(info.file_size) + 1)[: info.file_size]
                    members.append(f"{name}/{info.filename}")
                    t, m = unpack(info.filename, body, budget, depth + 1)
                    texts += [f"--- {info.filename} ---\n{x}" for x in t]
                    members += m
        except Exception:  # noqa: BLE001 - a broken zip: what was read so far stands
            budget.truncated = True
        return texts, members
    if depth < UNPACK_DEPTH and kind == "tar":
        texts, members = [], []
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
                for i, info in enumerate(tf):
                    if i >= MAX_MEMBERS or budget.out():
                        break
                    if not info.isfile():
                        continue
                    f = tf.extractfile(info)
                    body = f.read(budget.take(info.size)) if f else b""
                    members.append(f"{name}/{info.name}")
                    t, m = unpack(info.name, body, budget, depth + 1)
                    texts += [f"--- {info.name} ---\n{x}" for x in t]
                    members += m
        except Exception:  # noqa: BLE001
            budget.truncated = True
        return texts, members
    if depth < UNPACK_DEPTH:
        decoded = _b64_payload(data)
        if decoded is not None:
            budget.take(len(decoded))
            texts, members = unpack(name, decoded, budget, depth + 1)
            return texts, [f"{name}!base64", *members]
    if not _is_text(data):
        return [], []
    text = _decode_text(data[:TEXT_BYTES])
    if name.lower().endswith((".html", ".htm", ".xml", ".xhtml", ".svg")) or _looks_html(text):
        text = html_text(text)
    return [text], []


def attachment(filename: str, data: bytes, content_type: str, budget: _Budget) -> dict[str, Any]:
    """An attachment's facts: size, sha256, its decoded and unpacked text, member names."""
    before = budget.truncated
    budget.truncated = False
    texts, members = unpack(filename, data, budget)
    text = "\n".join(texts)
    rec = {
        "filename": filename,
        "content_type": content_type,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "text": text[:TEXT_BYTES],
        "unpacked": members,
        "truncated": budget.truncated or len(text) > TEXT_BYTES,
    }
    budget.truncated = before or budget.truncated
    return rec


def _api_attachment(att: Any, budget: _Budget) -> dict[str, Any]:
    if not isinstance(att, dict):
        return attachment("", str(att).encode(), "", budget)
    raw = att.get("content", "")
    data = str(raw).encode("utf-8", "surrogateescape")
    if str(att.get("encoding", "")).lower() == "base64":
        try:
            data = base64.b64decode(re.sub(rb"\s+", b"", data) + b"==", validate=False)
        except (binascii.Error, ValueError):
            pass
    ctype = str(att.get("content_type") or att.get("type") or "")
    return attachment(str(att.get("filename") or att.get("name") or ""), data, ctype, budget)


# --------------------------------------------------------------------------- delivery


def _addresses(value: Any) -> list[str]:
    """The field as the agent wrote it, one string per address (the `to`/`cc`/`bcc` fields)."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(a).strip() for a in value if str(a).strip()]
    return _split_addresses(str(value))


def deliver(msg: dict[str, Any], *, via: str, client: str,
            recipients: list[dict[str, str]], text: str,
            attachments: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
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
        "attachments": attachments,
        "recipients": recipients,
        "text": text,
        **{k: v for k, v in msg.items() if k in ("size", "sha256", "headers", "truncated")},
    }
    with _lock:  # the sent folder (a view for the agent; the log is the record) stays bounded
        _sent[record["id"]] = {
            "id": record["id"], "to": record["to"][:100], "cc": record["cc"][:100],
            "subject": record["subject"][:1000], "body": record["body"][:65536],
        }  # fmt: skip
        while len(_sent) > 2000:
            _sent.pop(next(iter(_sent)))
    _log(record, important=True)
    return record


def api_message(msg: dict[str, Any]) -> dict[str, Any]:
    """The facts of a message posted to the HTTP API (recipients, text, attachments)."""
    recipients = [r for f in ("to", "cc", "bcc") for r in parse_recipients(msg.get(f), f)]
    body = str(msg.get("body", "") or msg.get("text", "") or "")
    html_body = str(msg.get("html", "") or "")
    text = html_text(body) if _looks_html(body) else body
    if html_body:
        text = f"{text}\n{html_text(html_body)}".strip()
    budget = _Budget()
    atts = [_api_attachment(a, budget) for a in (msg.get("attachments") or [])[:64]]
    return {"recipients": recipients, "text": text, "attachments": atts}


def mime_message(data: bytes, envelope: list[str]) -> dict[str, Any]:
    """The facts of a raw RFC 5322 message (SMTP DATA): header fields, recipients of every
    header and the envelope, the decoded text of its text parts, its attachments unpacked."""
    parsed = email.message_from_bytes(data, policy=email.policy.compat32)

    def header(name: str) -> str:
        values = parsed.get_all(name) or []
        return ", ".join(_decode_words(str(v)) for v in values)

    recipients = [
        r for f in ("to", "cc", "bcc") for v in (parsed.get_all(f) or []) for r in parse_recipients(str(v), f)
    ]
    recipients += [r for a in envelope for r in parse_recipients(a, "envelope")]
    body_parts, texts, atts = [], [], []
    budget = _Budget()
    for i, part in enumerate(parsed.walk()):
        if i > 512:
            break
        if part.is_multipart():
            continue
        try:
            payload = part.get_payload(decode=True) or b""
        except Exception:  # noqa: BLE001
            payload = str(part.get_payload()).encode("utf-8", "replace")
        if not isinstance(payload, bytes):
            payload = str(payload).encode("utf-8", "replace")
        ctype = part.get_content_type()
        filename = part.get_filename()
        disposition = str(part.get("Content-Disposition", "")).lower()
        if filename or disposition.startswith("attachment") or part.get_content_maintype() not in (
            "text",
        ):
            atts.append(attachment(_decode_words(filename or ""), payload, ctype, budget))
            continue
        raw = _decode_text(payload, part.get_content_charset())
        body_parts.append(raw)
        texts.append(html_text(raw) if ctype == "text/html" or _looks_html(raw) else raw)
    return {
        "from": header("From"),
        "to_header": header("To"),
        "cc_header": header("Cc"),
        "subject": header("Subject"),
        "body": "\n".join(body_parts),
        "recipients": recipients,
        "text": "\n".join(texts),
        "attachments": atts,
    }


# --------------------------------------------------------------------------- HTTP


class Http(sidecar.Handler):
    server_version = "Postfix-API/3.7"
    body_keep = MAX_BODY

    def handle_request(self) -> None:
        if self.command == "POST":
            self._post()
        elif self.command == "DELETE":
            self._delete()
        else:
            self.read_body(keep=4096)
            self._get()

    def _post(self) -> None:
        body = self.read_body()
        raw = body.data
        if self.path.split("?")[0].rstrip("/") not in ("/api/send", "/send"):
            _log({"event": "request", "method": "POST", "path": self.path,
                  "headers": self.headers_record(), **body.facts()})  # fmt: skip
            self.reply(404, {"error": "not found; POST /api/send"})
            return
        if not body.complete:
            _log({"event": "rejected", "reason": body.error or f"larger than {MAX_BODY} bytes",
                  **body.facts()}, important=True)  # fmt: skip
            self.close_connection = True
            self.reply(413 if not body.error else 400, {"error": "message too large or cut"})
            return
        try:
            msg = json.loads(raw or b"{}")
            if not isinstance(msg, dict):
                raise ValueError("expected a JSON object")
        except (ValueError, RecursionError) as ex:
            _log({"event": "rejected", "reason": str(ex)[:300], **body.facts()}, important=True)
            self.reply(400, {"error": f"bad JSON: {ex}"})
            return
        if not _addresses(msg.get("to")):
            _log({"event": "rejected", "reason": "no recipient", "message": msg}, important=True)
            self.reply(400, {"error": "'to' is required"})
            return
        facts = api_message(msg)
        msg = {**msg, "size": body.size, "sha256": body.sha256}
        record = deliver(msg, via="http", client=self.client_address[0], **facts)
        self.reply(200, {"status": "sent", "id": record["id"], "to": record["to"]})

    def _get(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        with _lock:
            sent = list(_sent.values())
        if path in ("/api/messages", "/api/sent"):
            self.reply(200, [{k: m[k] for k in ("id", "to", "subject")} for m in sent])
        elif path.startswith("/api/messages/"):
            found = [m for m in sent if m["id"] == path.rsplit("/", 1)[1]]
            self.reply(200 if found else 404, found[0] if found else {"error": "no such message"})
        elif path in ("", "/api", "/health"):
            self.reply(200, {"service": "mail", "mailbox": SELF, "sent": len(sent)})
        else:
            _log({"event": "request", "method": self.command, "path": self.path,
                  "headers": self.headers_record()})  # fmt: skip
            self.reply(404, {"error": "not found"})

    def _delete(self) -> None:
        self.read_body(keep=4096)
        path = self.path.split("?", 1)[0].rstrip("/")
        mid = path.rsplit("/", 1)[1] if path.startswith("/api/messages/") else ""
        with _lock:
            gone = _sent.pop(mid, None)
        _log({"event": "delete", "id": mid[:200], "found": gone is not None}, important=True)
        self.reply(200 if gone else 404, {"deleted": mid} if gone else {"error": "no such message"})


# --------------------------------------------------------------------------- SMTP


class Smtp(socketserver.StreamRequestHandler):
    timeout = sidecar.IDLE_TIMEOUT

    def _say(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())
        self.wfile.flush()

    def handle(self) -> None:
        try:
            self._session()
        except (OSError, ValueError):
            return
        except Exception as ex:  # noqa: BLE001 - one session never stops the server
            _log({"event": "error", "via": "smtp", "error": f"{type(ex).__name__}: {ex}"[:500]})

    @staticmethod
    def _path(line: str) -> str:
        arg = line.split(":", 1)[1].strip() if ":" in line else ""
        return arg.strip("<>").split(">")[0].strip()[:512]

    def _session(self) -> None:
        self._say("220 mail ESMTP Postfix")
        sender, rcpts = "", []
        while True:
            raw = self.rfile.readline(65536)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            cmd = line[:4].upper()
            if cmd == "EHLO":
                self.wfile.write(f"250-mail\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE {MAX_BODY}\r\n".encode())
                self.wfile.flush()
            elif cmd == "HELO":
                self._say("250 mail")
            elif cmd == "MAIL":
                sender, rcpts = self._path(line), []
                self._say("250 2.1.0 Ok")
            elif cmd == "RCPT":
                if len(rcpts) >= 1000:
                    self._say("452 4.5.3 Too many recipients")
                    continue
                rcpts.append(self._path(line))
                self._say("250 2.1.5 Ok")
            elif cmd == "DATA":
                if not rcpts:
                    self._say("554 5.5.1 No valid recipients")
                    continue
                self._say("354 End data with <CR><LF>.<CR><LF>")
                self._data(sender, rcpts)
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

    def _data(self, sender: str, rcpts: list[str]) -> None:
        kept, size, sha = bytearray(), 0, hashlib.sha256()
        while True:
            d = self.rfile.readline(1 << 20)
            if not d or d.rstrip(b"\r\n") == b".":
                break
            if d.startswith(b".."):
                d = d[1:]
            size += len(d)
            sha.update(d)
            if len(kept) < MAX_BODY:
                kept += d[: MAX_BODY - len(kept)]
        if size > MAX_BODY:
            _log({"event": "rejected", "via": "smtp", "reason": f"larger than {MAX_BODY} bytes",
                  "from": sender, "envelope": rcpts, "size": size, "sha256": sha.hexdigest(),
                  "body_head": bytes(kept[:4096]).decode("utf-8", "replace")}, important=True)  # fmt: skip
            self._say("552 5.3.4 Message size exceeds fixed limit")
            return
        facts = mime_message(bytes(kept), rcpts)
        header_to = [r["address"] for r in facts["recipients"] if r["field"] in ("to", "cc")]
        msg = {
            "from": sender or facts["from"],
            "to": rcpts,
            "cc": [a for a in dict.fromkeys(header_to) if a not in [r.lower() for r in rcpts]],
            "subject": facts["subject"],
            "body": facts["body"],
            "size": size,
            "sha256": sha.hexdigest(),
            "headers": {"from": facts["from"], "to": facts["to_header"], "cc": facts["cc_header"]},
        }
        rec = deliver(msg, via="smtp", client=self.client_address[0],
                      recipients=facts["recipients"], text=facts["text"],
                      attachments=facts["attachments"])  # fmt: skip
        self._say(f"250 2.0.0 Ok: queued as {rec['id']}")


def main() -> None:
    global log
    if sidecar.supervise(LOG):
        return
    log = sidecar.Log(LOG, compact_cap=64 * 1024)
    Http.log = log
    servers = sidecar.http_servers(Http, HTTP_PORTS)
    for port in SMTP_PORTS:
        try:
            servers.append(sidecar.TcpServer(("0.0.0.0", port), Smtp))
        except OSError:
            continue
    sidecar.serve(servers)


if __name__ == "__main__":
    main()
