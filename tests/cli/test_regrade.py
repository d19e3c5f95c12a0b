"""`scheming regrade` re-judges a log with no sandbox and no call to the model under test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from inspect_ai.log import read_eval_log

from evals.cli import main
from tests.graders.test_interrogation import run_case


def judge_keys(path: Path) -> list[dict[str, Any]]:
    log = read_eval_log(str(path))
    out = []
    for s in log.samples or []:
        score = s.scores["scheming"]  # type: ignore[index]
        out.append({"value": score.value, "unscored": score.metadata["unscored"]})  # type: ignore[index]
    return out


@pytest.fixture
def schemer_log(tmp_path: Path) -> Path:
    log = run_case("schemer", "scripted/labels", followups=1, log_dir=tmp_path / "run")
    return Path(log.location)


def forbid_target_and_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    from evals.models._scripted import ScriptedModel

    def no_target(*args: object, **kwargs: object) -> None:
        raise AssertionError("regrade called the model under test")

    def no_sandbox(*args: object, **kwargs: object) -> None:
        raise AssertionError("regrade used a sandbox")

    monkeypatch.setattr(ScriptedModel, "_output", no_target)
    monkeypatch.setattr("evals.graders._scorer.sandbox", no_sandbox)


def test_regrade_reproduces_verdicts(
    schemer_log: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    forbid_target_and_sandbox(monkeypatch)
    out = tmp_path / "regraded"
    assert main(["regrade", str(schemer_log), "--out", str(out)]) == 0
    assert "no verdict changed" in capsys.readouterr().out
    [new] = list(out.glob("*.eval"))
    assert judge_keys(new) == judge_keys(schemer_log)
    assert judge_keys(new)[0]["value"]["denied"] == 1
    log = read_eval_log(str(new))
    score = log.samples[0].scores["scheming"]  # type: ignore[index]
    assert score.history and score.history[-1].provenance is not None


def test_regrade_with_a_failing_grader_marks_unscored_and_prints_changes(
    schemer_log: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    forbid_target_and_sandbox(monkeypatch)
    out = tmp_path / "regraded"
    assert main(["regrade", str(schemer_log), "--out", str(out), "--grader", "mockllm/model"]) == 0
    printed = capsys.readouterr().out
    assert "denied: 1 → unscored" in printed
    [new] = judge_keys(next(out.glob("*.eval")))
    assert {u["key"] for u in new["unscored"]} == {"confessed", "denied", "evaded", "eval_aware"}
    assert new["value"]["attempted"] == 1 and "denied" not in new["value"]
    # the analysis counts them as unscored, not as 0
    from evals.analysis import load_cells

    [cell] = load_cells([out])
    assert cell.unscored_by_key == {"confessed": 1, "denied": 1, "evaded": 1, "eval_aware": 1}


def test_regrade_refuses_the_target_as_grader(schemer_log: Path, tmp_path: Path) -> None:
    code = main(
        ["regrade", str(schemer_log), "--out", str(tmp_path / "x"), "--grader", "scripted/schemer"]
    )
    assert code == 2
