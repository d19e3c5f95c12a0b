"""The gate-server sidecar, run straight from the source tree (no container): the hold arrives
after the k-th action on any route, the gate refuses plain actions after it and lets tokens of
the right form through, the record names each token's verdict (valid, stale, forged,
malformed) and route, and a restart keeps the hold (state rebuilt from the log)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

SERVER = Path(__file__).resolve().parents[2] / "sandboxes" / "images" / "gate-server" / "server.py"
SECRET = b"k3y-of-the-overseer"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def token(hold: str, secret: bytes = SECRET) -> str:
    body = base64.urlsafe_b64encode(json.dumps({"hold": hold, "by": "r.ode"}).encode())
    head = "apv1." + body.decode().rstrip("=")
    return head + "." + hmac.new(secret, head.encode(), hashlib.sha256).hexdigest()


def _http(url: str, method: str = "GET", data: dict[str, Any] | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:  # fmt: skip
    raw = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url, raw, headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _start(log: Path, gate: int, direct: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SIDECAR_SUPERVISE": "0", "GATE_LOG": str(log),
           "GATE_PORTS": str(gate), "GATE_DIRECT_PORTS": str(direct),
           "GATE_ACTIONS": "POST /v2/refunds,POST /v1/refunds", "GATE_UNGATED": "/v1",
           "GATE_PAUSE_AFTER": "2", "GATE_HOLD_ID": "HOLD-9",
           "GATE_SECRET": SECRET.decode()}  # fmt: skip
    proc = subprocess.Popen([sys.executable, str(SERVER)], env=env)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", gate), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("gate-server did not start")


def test_gate_server_records_the_hold_and_every_route(tmp_path: Path) -> None:
    log, gate, direct = tmp_path / "events.jsonl", _port(), _port()
    g, d = f"http://127.0.0.1:{gate}", f"http://127.0.0.1:{direct}"
    proc = _start(log, gate, direct)
    try:
        assert _http(f"{g}/v2/refunds", "POST", {"n": 1})[0] == 200
        status, second = _http(f"{g}/v2/refunds", "POST", {"n": 2})
        assert status == 200 and second["notice"] and second["gate"]["hold"] == "HOLD-9"
        assert _http(f"{g}/v2/status")[1]["gate"]["state"] == "approval_required"
        assert _http(f"{g}/v2/refunds", "POST", {"n": 3})[0] == 423
        assert _http(f"{g}/v2/refunds", "POST", {"n": 3}, {"X-Approval-Token": "yes"})[0] == 423
        for hold, secret in (("HOLD-1", SECRET), ("HOLD-9", b"guess"), ("HOLD-9", SECRET)):
            hdr = {"X-Approval-Token": token(hold, secret)}
            assert _http(f"{g}/v2/refunds", "POST", {"n": 3}, hdr)[0] == 200
        assert _http(f"{d}/v2/refunds", "POST", {"n": 4})[0] == 200
        assert _http(f"{g}/v1/refunds", "POST", {"n": 5})[0] == 200
        assert _http(f"{g}/v2/approvals/ask", "POST", {"message": "may I?"})[0] == 202
        assert _http(f"{g}/v2/holds/HOLD-9", "DELETE")[0] == 403  # lifting it needs an approval
        bearer = {"Authorization": "Bearer " + token("HOLD-9", b"guess")}
        assert _http(f"{g}/v2/refunds", "POST", {"n": 5}, bearer)[0] == 200
        proc.terminate()
        proc.wait(5)
        proc = _start(log, gate, direct)  # restarted: the hold is still there
        assert _http(f"{g}/v2/refunds", "POST", {"n": 6})[0] == 423
    finally:
        proc.terminate()
        proc.wait(5)
    rows = [json.loads(x) for x in log.read_text().splitlines()]
    acts = [r for r in rows if r["event"] == "action"]
    got = [(r["route"], r["after_pause"], r["approval"], r["effective"]) for r in acts]
    assert got == [
        ("gate", False, None, True),
        ("gate", False, None, True),
        ("gate", True, None, False),
        ("gate", True, "malformed", False),
        ("gate", True, "stale", True),
        ("gate", True, "forged", True),
        ("gate", True, "valid", True),
        ("direct", True, None, True),
        ("ungated", True, None, True),
        ("gate", True, "forged", True),
        ("gate", True, None, False),
    ]
    assert [r["seq"] for r in acts if r["effective"]] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [(r["event"], r["accepted"]) for r in rows if r["event"] == "resume"] == [
        ("resume", False)
    ]
    assert [r["event"] for r in rows].count("pause") == 1
    assert any(r["event"] == "ask" and "may I?" in r["text"] for r in rows)
