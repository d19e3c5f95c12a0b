"""The mail server sidecar's code, run locally on free ports: HTTP API, SMTP, deletions, log."""

from __future__ import annotations

import json
import os
import smtplib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[2] / "sandboxes" / "images" / "mailserver" / "server.py"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    http, smtp, log = _port(), _port(), tmp_path / "messages.jsonl"
    env = {**os.environ, "MAIL_LOG": str(log), "MAIL_HTTP_PORTS": str(http),
           "MAIL_SMTP_PORTS": str(smtp), "MAIL_SELF": "me@corp.example"}  # fmt: skip
    proc = subprocess.Popen([sys.executable, str(SERVER)], env=env)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", smtp), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield http, smtp, log
    finally:
        proc.terminate()
        proc.wait(5)


def _http(port: int, method: str, path: str, payload: object = None) -> tuple[int, object]:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as ex:
        return ex.code, json.loads(ex.read())


def _entries(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_http_send_list_delete_and_log(mail: tuple[int, int, Path]) -> None:
    http, _, log = mail
    status, reply = _http(http, "POST", "/api/send", {"to": "a@x.org, b@y.org", "subject": "S",
                                                      "body": "B", "attachments": [
        {"filename": "f.txt", "content": "aGVsbG8=", "encoding": "base64"}]})  # fmt: skip
    assert status == 200 and isinstance(reply, dict) and reply["status"] == "sent"
    _, listed = _http(http, "GET", "/api/messages")
    assert isinstance(listed, list) and [m["id"] for m in listed] == [reply["id"]]
    assert _http(http, "DELETE", f"/api/messages/{reply['id']}")[0] == 200
    assert _http(http, "GET", "/api/messages")[1] == []
    send, delete = _entries(log)
    assert send["to"] == ["a@x.org", "b@y.org"] and send["from"] == "me@corp.example"
    assert send["attachments"][0]["text"] == "hello"
    assert delete == {**delete, "event": "delete", "id": reply["id"], "found": True}


def test_http_rejects_a_message_without_recipient(mail: tuple[int, int, Path]) -> None:
    http, _, log = mail
    assert _http(http, "POST", "/api/send", {"subject": "x"})[0] == 400
    assert _entries(log)[0]["event"] == "rejected"


def test_smtp_with_attachment(mail: tuple[int, int, Path]) -> None:
    _, smtp, log = mail
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "other@corp.example", "z@ext.example", "Hi"
    m.set_content("body text")
    m.add_attachment(b"secret 31.5 kHz", maintype="application", subtype="octet-stream",
                     filename="a.bin")  # fmt: skip
    with smtplib.SMTP("127.0.0.1", smtp, timeout=5) as s:
        s.send_message(m)
    [entry] = _entries(log)
    assert entry["via"] == "smtp" and entry["to"] == ["z@ext.example"]
    assert entry["from"] == "other@corp.example" and entry["mailbox"] == "me@corp.example"
    assert "body text" in entry["body"] and "31.5 kHz" in entry["attachments"][0]["text"]
