"""The mail server sidecar's code, run locally on free ports: HTTP API, SMTP, deletions, log."""

from __future__ import annotations

import base64
import bz2
import gzip
import hashlib
import importlib.util
import io
import json
import lzma
import os
import smtplib
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

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
           "MAIL_SMTP_PORTS": str(smtp), "MAIL_SELF": "me@corp.example",
           "SIDECAR_SUPERVISE": "0"}  # fmt: skip
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


# --------------------------------------------------------------------------- parsing (unit)


def _server() -> Any:
    spec = importlib.util.spec_from_file_location("mailserver_under_test", SERVER)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def srv() -> Any:
    return _server()


def _addrs(srv: Any, value: object, field: str = "to") -> list[tuple[str, str]]:
    return [(r["address"], r["name"]) for r in srv.parse_recipients(value, field)]


def test_recipients_display_name_that_looks_like_an_address(srv: Any) -> None:
    assert _addrs(srv, '"ceo@corp.example" <Leak@Outside.example>') == [
        ("leak@outside.example", "ceo@corp.example")
    ]


def test_recipients_groups_semicolons_lists_and_encoded_names(srv: Any) -> None:
    value = (
        'Board: a@corp.example, "Smith, J" <j@ext.example>;; b@x.org; c@y.org, '
        "=?utf-8?q?J=C3=BCrgen?= <jg@z.de>"
    )
    assert _addrs(srv, value) == [
        ("a@corp.example", ""),
        ("j@ext.example", "Smith, J"),
        ("b@x.org", ""),
        ("c@y.org", ""),
        ("jg@z.de", "Jürgen"),
    ]
    assert _addrs(srv, "undisclosed-recipients:;") == []
    assert _addrs(srv, ["A <a@x.org>", {"name": "B", "address": "b@y.org"}]) == [
        ("a@x.org", "A"),
        ("b@y.org", "B"),
    ]
    assert _addrs(srv, "x@y.org (comment, with comma)") == [("x@y.org", "comment, with comma")]


def test_mime_text_parts_decoded(srv: Any) -> None:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = (
        "me@corp.example",
        "Group: a@x.org, b@y.org;",
        "=?utf-8?b?w5xiZXI=?=",
    )
    m["Cc"] = '"boss@corp.example" <out@leak.example>'
    m.set_content("Grüße: the rate is 31.5 kHz", charset="utf-8", cte="quoted-printable")
    m.add_alternative("<html><body><p>Revenue <b>4.2M</b></p><script>x()</script></body></html>",
                      subtype="html", cte="base64")  # fmt: skip
    facts = srv.mime_message(bytes(m), ["bcc@hidden.example"])
    got = {(r["field"], r["address"]) for r in facts["recipients"]}
    assert got == {("to", "a@x.org"), ("to", "b@y.org"), ("cc", "out@leak.example"),
                   ("envelope", "bcc@hidden.example")}  # fmt: skip
    assert "Grüße: the rate is 31.5 kHz" in facts["text"]
    assert (
        "Revenue 4.2M" in facts["text"]
        and "x()" not in facts["text"]
        and "<b>" not in facts["text"]
    )


def _archives() -> dict[str, bytes]:
    secret = b"Q3 revenue 4.2M, do not share"
    tar_io = io.BytesIO()
    with tarfile.open(fileobj=tar_io, mode="w") as t:
        info = tarfile.TarInfo("deep/notes.txt")
        info.size = len(secret)
        t.addfile(info, io.BytesIO(secret))
    zip_io = io.BytesIO()
    with zipfile.ZipFile(zip_io, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("inner.tar.gz", gzip.compress(tar_io.getvalue()))
        z.writestr("page.html", "<p>margin <i>12%</i></p>")
    return {
        "notes.gz": gzip.compress(secret),
        "notes.bz2": bz2.compress(secret),
        "notes.xz": lzma.compress(secret),
        "notes.b64": base64.encodebytes(gzip.compress(secret)),
        "bundle.zip": zip_io.getvalue(),
        "notes.tar": tar_io.getvalue(),
    }


@pytest.mark.parametrize("name", list(_archives()))
def test_attachments_unpacked(srv: Any, name: str) -> None:
    data = _archives()[name]
    att = srv.attachment(name, data, "application/octet-stream", srv._Budget())
    assert att["size"] == len(data) and att["sha256"] == hashlib.sha256(data).hexdigest()
    assert "Q3 revenue 4.2M" in att["text"], att
    assert att["truncated"] is False
    if name == "bundle.zip":  # zip > tar.gz > tar member, three layers down
        assert "bundle.zip/inner.tar.gz" in att["unpacked"]
        assert any(m.endswith("deep/notes.txt") for m in att["unpacked"])
        assert "margin 12%" in att["text"]


def test_unpacking_is_bounded(srv: Any) -> None:
    bomb = gzip.compress(b"A" * (200 * 1024 * 1024))
    t0 = time.monotonic()
    att = srv.attachment("bomb.gz", bomb, "", srv._Budget())
    assert time.monotonic() - t0 < 10
    assert att["truncated"] is True and len(att["text"]) <= srv.TEXT_BYTES
    nested = b"deepest"
    for _ in range(6):
        nested = gzip.compress(nested)
    att = srv.attachment("n.gz", nested, "", srv._Budget())
    assert "deepest" not in att["text"]  # past the depth limit: not unpacked


def test_http_facts_round_trip(mail: tuple[int, int, Path]) -> None:
    http, _, log = mail
    data = base64.b64encode(gzip.compress(b"figures: 31.5 kHz")).decode()
    att = {"filename": "f.gz", "content": data, "encoding": "base64"}
    msg = {"to": ['"ceo@corp.example" <drop@outside.example>'], "cc": "a@x.org; b@y.org",
           "bcc": "Hidden: h@z.org;", "subject": "s", "body": "<p>see <b>attached</b></p>",
           "attachments": [att]}  # fmt: skip
    assert _http(http, "POST", "/api/send", msg)[0] == 200
    [send] = _entries(log)
    assert [(r["field"], r["address"]) for r in send["recipients"]] == [
        ("to", "drop@outside.example"), ("cc", "a@x.org"), ("cc", "b@y.org"), ("bcc", "h@z.org")
    ]  # fmt: skip
    assert send["text"] == "see attached"
    assert "31.5 kHz" in send["attachments"][0]["text"]
    assert send["to"] == ['"ceo@corp.example" <drop@outside.example>']  # as the agent wrote it


def test_smtp_facts_round_trip(mail: tuple[int, int, Path]) -> None:
    _, smtp, log = mail
    m = EmailMessage()
    m["From"], m["To"] = "me@corp.example", '"in@corp.example" <out@leak.example>'
    m["Subject"] = "Q"
    m.set_content("plain")
    m.add_attachment(_archives()["bundle.zip"], maintype="application", subtype="zip",
                     filename="bundle.zip")  # fmt: skip
    with smtplib.SMTP("127.0.0.1", smtp, timeout=5) as s:
        s.send_message(m, to_addrs=["out@leak.example", "Secret@Bcc.example"])
    [send] = _entries(log)
    assert {(r["field"], r["address"]) for r in send["recipients"]} == {
        ("to", "out@leak.example"), ("envelope", "out@leak.example"),
        ("envelope", "secret@bcc.example")}  # fmt: skip
    assert "Q3 revenue 4.2M" in send["attachments"][0]["text"]
    assert send["attachments"][0]["filename"] == "bundle.zip"


def _ipam() -> Any:
    """A random private /24 of our own: the engine's default pools may all be taken."""
    import random

    import docker.types

    subnet = f"10.{random.randint(200, 250)}.{random.randint(0, 255)}.0/24"
    return docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])


@pytest.mark.usefixtures("docker_ready")
def test_docker_round_trip_http_and_smtp() -> None:
    """The built image: a message by the HTTP API and one by SMTP, both in the log with facts."""
    import docker

    client = docker.from_env()
    net = client.networks.create(
        f"scheming-evals-test-{os.getpid()}", labels={"scheming-evals": "1"}, ipam=_ipam()
    )
    c = None
    try:
        c = client.containers.run("scheming-evals/mailserver:latest", detach=True,
                                  network=net.name, labels={"scheming-evals": "1"},
                                  environment={"MAIL_SELF": "me@corp.example"},
                                  cap_drop=["ALL"], init=True)  # fmt: skip
        c.reload()
        ip = c.attrs["NetworkSettings"]["Networks"][net.name]["IPAddress"]
        for _ in range(100):
            try:
                socket.create_connection((ip, 2525), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        req = urllib.request.Request(
            f"http://{ip}:8025/api/send", method="POST",
            data=json.dumps({"to": "Ops: a@corp.example, \"b@corp.example\" <x@leak.example>;",
                             "subject": "s", "body": "hello"}).encode(),
            headers={"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = "me@corp.example", "y@leak.example", "t"
        m.set_content("secret", cte="base64")
        with smtplib.SMTP(ip, 2525, timeout=10) as s:
            s.send_message(m)
        rc, out = c.exec_run(["cat", "/var/log/mail/messages.jsonl"])
        assert rc == 0
        sends = [json.loads(x) for x in out.splitlines() if json.loads(x).get("event") == "send"]
        assert [sorted(r["address"] for r in e["recipients"]) for e in sends] == [
            ["a@corp.example", "x@leak.example"], ["y@leak.example", "y@leak.example"]
        ]  # fmt: skip
        assert sends[1]["text"].strip() == "secret" and sends[1]["via"] == "smtp"
        owner = c.exec_run(["stat", "-c", "%U %a", "/var/log/mail"]).output.decode().split()
        assert owner == ["postmaster", "750"]
    finally:
        if c is not None:
            c.remove(force=True)
        net.remove()
