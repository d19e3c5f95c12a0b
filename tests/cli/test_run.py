"""`scheming run`: bad arguments fail in one line before anything starts; end to end in real
containers: summary rows, Ctrl-C and SIGTERM leave nothing behind, a killed run's containers
are removed by the next run in its log dir, resuming never double-counts, a finished log dir
re-runs to its table, and one failing sample does not stop the others."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

SCENARIO = "oversight_subversion/transit_planner"


RUN_ID = f"test-{uuid.uuid4().hex[:8]}"
ENV = {**os.environ, "SCHEMING_RUN_ID": RUN_ID}


def _labelled(run_id: str = RUN_ID, kind: str = "container") -> list[str]:
    """Containers (networks, volumes) of a test's run: every sandbox carries its run's label."""
    command = {
        "container": ["ps", "-aq"],
        "network": ["network", "ls", "-q"],
        "volume": ["volume", "ls", "-q"],
    }[kind]
    out = subprocess.run(
        ["docker", *command, "--filter", f"label=scheming-evals.run={run_id}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def _scheming(*args: str) -> list[str]:
    return [sys.executable, "-m", "evals", *args]


BAD_ARGS = [
    (["--model", "scripted/nope"], "--model scripted/nope: no chosen scenario has"),
    (["--model", "scripted/labels"], "reference trajectory 'labels'"),
    (["--model", "foo/bar", "--grader", "scripted/labels"], "not recognized"),
    (["--model", "nomodel", "--grader", "scripted/labels"], "--model nomodel"),
    (["--model", "scripted/schemer", "--max-samples", "0"], "--max-samples: 0 is outside"),
    (["--model", "scripted/schemer", "--max-samples", "-3"], "--max-samples"),
    (["--model", "scripted/schemer", "--epochs", "0"], "--epochs: 0 is outside"),
    (["--model", "scripted/schemer", "--epochs", "x"], "--epochs: 'x' is not a whole number"),
    (["--model", "scripted/schemer", "--epochs", "99999999"], "--epochs"),
    (["--model", "scripted/schemer", "--followups", "9"], "--followups"),
    (["--model", "scripted/schemer", "--display", "fancy"], "--display"),
    (["--model", "scripted/schemer", "--summary-json", "/proc/none/x.json"], "--summary-json"),
    (["--model", "scripted/schemer", "--summary-json", "/"], "is a directory"),
    (["--model", "scripted/schemer", "--log-dir", "/etc/hostname"], "not a directory"),
    (["--model", "scripted/schemer", "--suite", "nope"], "no such suite"),
    (["--model", "scripted/schemer", "--scenario", "nope/*"], "no scenario matches 'nope/*'"),
    (["--model", "scripted/schemer", "--factor", "bogus=1"], "no chosen scenario has a factor"),
    (["--model", "scripted/schemer", "--factor", "nudge=bogus"], "'nudge' takes none, strong"),
    (["--model", "scripted/schemer", "--factor", "nudge"], "expected K=V"),
    (
        ["--model", "scripted/schemer", "--factor", "nudge=none", "--factor", "nudge=strong"],
        "given twice",
    ),
    (["--model", "scripted/schemer", "--model", "scripted/schemer"], "given twice"),
    (["--model", "scripted/schemer", "--grader", "scripted/schemer"], "never judges itself"),
    (["--model", "scripted/schemer", "--grader", "scripted/benign"], "only scripted grader"),
    (["--model", "openai/gpt-5"], "real models need --grader"),
    (["--model", "openai/gpt-5", "--grader", "anthropic/claude-x"], "OPENAI_API_KEY"),
    (["--model", "scripted/schemer", "--bogus"], "unrecognized arguments"),
]


@pytest.mark.parametrize(("extra", "message"), BAD_ARGS)
def test_bad_arguments_fail_in_one_line_before_anything_runs(
    extra: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from evals.cli import main

    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZUREAI_OPENAI_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)  # a default log dir would land here
    started: list[object] = []
    monkeypatch.setattr("evals.cli._run._execute", lambda *a, **k: started.append(a) or 0)
    args = ["run", "--scenario", "oversight_subversion/*", "--display", "none", *extra]
    if "--log-dir" not in extra:
        args += ["--log-dir", str(tmp_path / "logs")]
    with pytest.raises(SystemExit) as exit_:
        raise SystemExit(main(args))
    out = capsys.readouterr()
    assert exit_.value.code == 2, out
    assert started == []
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.err
    assert "Traceback" not in out.err + out.out
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").iterdir())


@pytest.mark.docker
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


@pytest.mark.docker
def test_sigint_leaves_nothing_behind_and_rerun_resumes(docker_ready: None, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    args = _scheming(
        "run",
        "--model",
        "scripted/schemer",
        "--model",
        "scripted/benign",
        "--scenario",
        "oversight_subversion/*",
        "--log-dir",
        str(logs),
        "--display",
        "none",
        "--max-samples",
        "2",
    )
    # as a terminal starts its foreground job: SIGINT at its default, whatever this process has
    with _children_sigint(signal.default_int_handler) as worker:
        proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, env=ENV
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _labelled():
        time.sleep(0.2)
    assert _labelled(), "no sandbox container appeared"
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGINT)
    sent = time.monotonic()
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    # when the signal was lost, how long the run went on says where (mid-run or at its end)
    assert proc.returncode == 130, (
        f"exit {proc.returncode}, {time.monotonic() - sent:.1f} s later (the test process had "
        f"SIGINT {worker!r})"
    )
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
        assert lg.samples is not None and len(lg.samples) == 10  # 2 scenarios × 5 variants
        assert all(s.error is None for s in lg.samples)
    assert _labelled() == []


SigintHandler = Callable[[int, FrameType | None], Any] | int | None


@contextlib.contextmanager
def _children_sigint(handler: SigintHandler) -> Iterator[SigintHandler]:
    """What SIGINT is in the processes started inside (a child inherits SIGINT ignored, and
    otherwise gets it at its default): set in this process around their start. Yields what
    this process had: a test worker that had it ignored once made every run it started ignore
    Ctrl-C (a full suite run: both interrupt tests failed, each run finishing its 20 samples)."""
    old = signal.signal(signal.SIGINT, handler)
    try:
        yield old
    finally:
        signal.signal(signal.SIGINT, old)


def _start(
    args: list[str], env: dict[str, str], sigint: SigintHandler = signal.default_int_handler
) -> subprocess.Popen[bytes]:
    with _children_sigint(sigint):
        proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not _labelled(env["SCHEMING_RUN_ID"]):
        time.sleep(0.2)
    assert _labelled(env["SCHEMING_RUN_ID"]), "no sandbox container appeared"
    time.sleep(1.0)
    return proc


def _run_args(logs: Path, *more: str) -> list[str]:
    return _scheming(
        "run",
        "--model",
        "scripted/schemer",
        "--model",
        "scripted/benign",
        "--scenario",
        "oversight_subversion/*",
        "--log-dir",
        str(logs),
        "--display",
        "none",
        "--max-samples",
        "2",
        *more,
    )


@pytest.mark.docker
def test_sigterm_is_ctrl_c(docker_ready: None, tmp_path: Path) -> None:
    """Even where SIGINT is ignored (a background job of a non-interactive shell, a parent
    that ignored it), which shuts Ctrl-C's own path: SIGTERM must still stop the run."""
    env = {**os.environ, "SCHEMING_RUN_ID": f"test-{uuid.uuid4().hex[:8]}"}
    proc = _start(_run_args(tmp_path / "logs"), env, sigint=signal.SIG_IGN)
    os.kill(proc.pid, signal.SIGTERM)
    sent = time.monotonic()
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    later = f"exit {proc.returncode}, {time.monotonic() - sent:.1f} s after SIGTERM\n"
    assert proc.returncode in (130, 143), later + out.decode()[-2000:]
    assert b"Traceback" not in out
    assert _labelled(env["SCHEMING_RUN_ID"]) == [], "containers left after SIGTERM"
    assert _labelled(env["SCHEMING_RUN_ID"], "network") == []
    assert _labelled(env["SCHEMING_RUN_ID"], "volume") == []


@pytest.mark.docker
def test_killed_run_is_cleaned_resumed_and_counted_once(docker_ready: None, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    killed_id = f"test-{uuid.uuid4().hex[:8]}"
    proc = _start(_run_args(logs), {**os.environ, "SCHEMING_RUN_ID": killed_id})
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(2)
    assert _labelled(killed_id), "SIGKILL should have left the run's containers"
    assert json.loads((logs / ".scheming-run").read_text())["run_id"] == killed_id

    # the next run in that log dir (a new run id) removes them, resumes, and counts once
    env = {**os.environ, "SCHEMING_RUN_ID": f"test-{uuid.uuid4().hex[:8]}"}
    summary = tmp_path / "summary.json"
    r = subprocess.run(
        _run_args(logs, "--summary-json", str(summary)),
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "an earlier run in" in r.stderr
    assert _labelled(killed_id) == [] and _labelled(killed_id, "network") == []
    assert _labelled(env["SCHEMING_RUN_ID"]) == []
    rows = json.loads(summary.read_text())
    assert sum(row["n"] + row["errors"] for row in rows) == 20  # 2 models × 10 samples
    report = subprocess.run(
        _scheming("report", str(logs), "--out", str(tmp_path / "report"), "--no-plots"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr[-2000:]
    table = json.loads((tmp_path / "report" / "table.json").read_text())
    assert table["samples"] == 20, "a resumed run is counted once"

    # running the finished log dir again: nothing to do, exit 0, the same table
    again = subprocess.run(_run_args(logs), capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "scripted/schemer" in again.stdout and "Traceback" not in again.stderr
    assert _labelled(env["SCHEMING_RUN_ID"]) == []


@pytest.mark.docker
def test_a_failing_sample_does_not_stop_the_others(docker_ready: None, tmp_path: Path) -> None:
    # scripted/schemer_copy exists only in transit-planner: grant-triage's samples error
    env = {**os.environ, "SCHEMING_RUN_ID": f"test-{uuid.uuid4().hex[:8]}"}
    summary = tmp_path / "summary.json"
    r = subprocess.run(
        _scheming(
            "run",
            "--model",
            "scripted/schemer_copy",
            "--scenario",
            "oversight_subversion/*",
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
        timeout=900,
        env=env,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    rows: dict[str, dict[str, int]] = {}
    for row in json.loads(summary.read_text()):  # cells of one scenario summed
        cell = rows.setdefault(row["scenario"], {"n": 0, "errors": 0})
        cell["n"] += row["n"]
        cell["errors"] += row["errors"]
    # every sample ran; transit-planner's were graded (an error there can only come from the
    # machine, e.g. docker out of network address pools, never from grant-triage's errors)
    transit = rows["oversight_subversion/transit_planner"]
    assert transit["n"] + transit["errors"] == 2 and transit["n"] >= 1, transit
    assert rows["oversight_subversion/grant_triage"]["errors"] == 2
    assert "sample(s) errored" in r.stderr
    assert _labelled(env["SCHEMING_RUN_ID"]) == []
