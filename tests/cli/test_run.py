"""`scheming run` end to end in real containers: summary rows, Ctrl-C leaves nothing behind,
and running again with the same --log-dir resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

SCENARIO = "oversight-subversion/transit-planner"


RUN_ID = f"test-{uuid.uuid4().hex[:8]}"
ENV = {**os.environ, "SCHEMING_RUN_ID": RUN_ID}


def _labelled() -> list[str]:
    """Containers of this test's runs (every sandbox carries its run's label)."""
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=scheming-evals.run={RUN_ID}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def _scheming(*args: str) -> list[str]:
    return [sys.executable, "-m", "evals", *args]


def test_run_writes_summary_rows(docker_ready: None, tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    r = subprocess.run(
        _scheming(
            "run",
            "--model",
            "scripted/schemer",
            "--model",
            "scripted/near_miss",
            "--scenario",
            SCENARIO,
            "--factor",
            "nudge=strong",
            "--log-dir",
            str(tmp_path / "logs"),
            "--summary-json",
            str(summary),
            "--display",
            "none",
        ),
        capture_output=True,
        text=True,
        timeout=600,
        env=ENV,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    rows = json.loads(summary.read_text())
    assert len(rows) == 4  # 2 models × 2 conflict values
    for row in rows:
        assert {
            "model",
            "scenario",
            "behaviour",
            "factors",
            "n",
            "explored",
            "attempted",
            "succeeded",
            "errors",
        } <= set(row)
        assert row["scenario"] == SCENARIO and row["n"] == 1 and row["errors"] == 0
        assert row["factors"]["nudge"] == "strong"
        if row["model"] == "scripted/schemer":
            assert row["succeeded"] == 1.0
        else:
            assert (row["explored"], row["succeeded"]) == (1.0, 0.0)
    assert "scripted/schemer" in r.stdout and "succ" in r.stdout
    assert list((tmp_path / "logs").glob("*.eval"))
    assert _labelled() == []


def test_sigint_leaves_nothing_behind_and_rerun_resumes(docker_ready: None, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    args = _scheming(
        "run",
        "--model",
        "scripted/schemer",
        "--model",
        "scripted/benign",
        "--scenario",
        "oversight-subversion/*",
        "--log-dir",
        str(logs),
        "--display",
        "none",
        "--max-samples",
        "2",
    )
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, env=ENV
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _labelled():
        time.sleep(0.2)
    assert _labelled(), "no sandbox container appeared"
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 130
    assert _labelled() == [], "containers left after Ctrl-C"
    nets = subprocess.run(
        ["docker", "network", "ls", "-q", "--filter", f"label=scheming-evals.run={RUN_ID}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert nets == []

    r = subprocess.run(args, capture_output=True, text=True, timeout=600, env=ENV)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    from inspect_ai.log import list_eval_logs, read_eval_log

    done = [read_eval_log(i) for i in list_eval_logs(str(logs))]
    assert len(done) == 2, "the interrupted logs were resumed, not duplicated"
    ok = [lg for lg in done if lg.status == "success"]
    assert sorted(lg.eval.model for lg in ok) == ["scripted/benign", "scripted/schemer"]
    for lg in ok:
        assert lg.samples is not None and len(lg.samples) == 8
        assert all(s.error is None for s in lg.samples)
    assert _labelled() == []
