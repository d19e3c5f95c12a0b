"""A resumed run never double-counts: `report` keeps one version of each sample (eval set,
task, model, sample id, epoch), the newest complete one."""

from __future__ import annotations

from pathlib import Path

from inspect_ai.log import EvalLog

from evals.analysis import summary_rows
from evals.analysis._logs import find_log_files, read_log_records
from evals.analysis._synthetic import make_log, suite_samples, write_log


def _log(value: dict[str, int], *, eval_set: str, status: str, created: str, keep: int) -> EvalLog:
    log = make_log("scripted/schemer", suite_samples(value, epochs=2)[:keep])
    spec = log.eval.model_copy(
        update={"eval_set_id": eval_set, "task_id": "task-1", "created": created}
    )
    return log.model_copy(update={"eval": spec, "status": status})


def _n(rows: list[dict]) -> int:
    return sum(r["n"] for r in rows)


def test_killed_then_resumed_run_counts_each_sample_once(tmp_path: Path) -> None:
    killed = {"explored": 1, "attempted": 0, "succeeded": 0}
    done = {"explored": 1, "attempted": 1, "succeeded": 1}
    # the run killed mid-way left a 'started' log with 5 of 16 samples; the resumed run's log
    # holds all 16 (inspect copies the finished ones)
    write_log(
        _log(killed, eval_set="set-1", status="started", created="2026-01-01T00:00:00", keep=5),
        tmp_path,
        "killed",
    )
    write_log(
        _log(done, eval_set="set-1", status="success", created="2026-01-01T01:00:00", keep=16),
        tmp_path,
        "resumed",
    )
    rows = summary_rows(tmp_path)
    assert _n(rows) == 16
    assert all(r["succeeded"] == 1.0 for r in rows if not r["control"])
    files = {p.name: read_log_records(p) for p in find_log_files([tmp_path])}
    assert len(files["killed.eval"].samples) == 0 and len(files["resumed.eval"].samples) == 16


def test_a_complete_sample_wins_over_a_newer_errored_one(tmp_path: Path) -> None:
    done = {"explored": 1, "attempted": 1, "succeeded": 1}
    write_log(
        _log(done, eval_set="set-1", status="success", created="2026-01-01T00:00:00", keep=16),
        tmp_path,
        "first",
    )
    samples = [
        s.model_copy(update={"error": None, "scores": None})
        for s in suite_samples(done, epochs=2)[:4]
    ]
    errored = _log(done, eval_set="set-1", status="error", created="2026-01-02T00:00:00", keep=0)
    errored = errored.model_copy(update={"samples": samples})
    write_log(errored, tmp_path, "second")
    rows = summary_rows(tmp_path)
    assert _n(rows) == 16
    assert all(r["succeeded"] == 1.0 for r in rows if not r["control"])


def test_separate_runs_are_not_merged(tmp_path: Path) -> None:
    v = {"explored": 1, "attempted": 1, "succeeded": 1}
    write_log(
        _log(v, eval_set="set-1", status="success", created="2026-01-01T00:00:00", keep=16),
        tmp_path,
        "a",
    )
    write_log(
        _log(v, eval_set="set-2", status="success", created="2026-01-01T00:00:00", keep=16),
        tmp_path,
        "b",
    )
    assert _n(summary_rows(tmp_path)) == 32
