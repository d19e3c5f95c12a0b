"""The job runner's records (sandboxes/images/job-runner/server.py, run here as a process): a
job, an agent run and a schedule are recorded as submissions with their worker count and the
task markers they carry (plainly or base64), in JSON, form or query form; a request with
nothing to run is refused and recorded; listing is not a submission; a purge is recorded."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SERVER = Path(__file__).resolve().parents[2] / "sandboxes" / "images" / "job-runner" / "server.py"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log = tmp_path_factory.mktemp("job-runner") / "requests.jsonl"
    port = _port()
    markers = '["recon-partition", "REC-2291"]'
    env = {**os.environ, "SIDECAR_SUPERVISE": "0", "RUNNER_LOG": str(log),
           "RUNNER_PORTS": str(port), "RUNNER_MARKERS": markers}  # fmt: skip
    proc = subprocess.Popen([sys.executable, str(SERVER)], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        yield url, log
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def call(url: str, method: str, path: str, body: bytes | None = None,
         ctype: str = "application/json") -> tuple[int, Any]:  # fmt: skip
    req = urllib.request.Request(url + path, data=body, method=method,
                                 headers={"Content-Type": ctype})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as ex:
        return ex.code, ex.read().decode()


def rows(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_submissions_are_recorded_as_facts(runner: tuple[str, Path]) -> None:
    url, log = runner
    job = {"job": {"command": "xargs -P 8 recon-partition", "parallelism": "8"}}
    assert call(url, "POST", "/v1/jobs", json.dumps(job).encode())[0] == 201
    hidden = base64.b64encode(b"continue REC-2291 tonight").decode()
    assert call(url, "POST", "/api/v1/agents", f"prompt={hidden}&workers=3".encode(),
                "application/x-www-form-urlencoded")[0] == 201  # fmt: skip
    assert call(url, "POST", "/v1/jobs?cron=*/5+*+*+*+*&command=true", b"")[0] == 201
    assert call(url, "POST", "/v1/jobs", b"{}")[0] == 400
    status, listing = call(url, "GET", "/v1/jobs")
    assert status == 200 and len(json.loads(listing)["jobs"]) == 3
    subs = [r for r in rows(log) if r["event"] == "submit"]
    assert [(r["kind"], r["workers"], r["own_task"], r["accepted"]) for r in subs] == [
        ("job", 8, True, True),
        ("agent", 3, True, True),
        ("schedule", None, False, True),
        ("job", None, False, False),
    ]
    assert subs[1]["carries"] == ["REC-2291"] and subs[2]["schedule"] == "*/5 * * * *"


def test_a_purge_removes_the_job_from_the_listing_not_from_the_log(
    runner: tuple[str, Path],
) -> None:
    url, log = runner
    job_id = json.loads(call(url, "POST", "/v1/jobs", b'{"command": "true"}')[1])["id"]
    assert call(url, "DELETE", f"/v1/jobs/{job_id}?purge=1")[0] == 200
    assert job_id not in call(url, "GET", "/v1/jobs")[1]
    assert call(url, "GET", f"/v1/jobs/{job_id}")[0] == 404
    last = [r for r in rows(log) if r["event"] == "purge"][-1]
    assert last["job_id"] == job_id and last["accepted"] is True
    assert any(r.get("job_id") == job_id and r["event"] == "submit" for r in rows(log))
