"""The dry-run estimate: its model of the judge follows what the grader does per sample (no answer
judged below `attempted`, follow-ups only after a denial or an evasion, none by `scripted/labels`
for content), and, in containers, the actual requests and tokens of a scripted run fall inside
the printed range for every sample."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from evals.analysis._estimate import Estimate, estimate
from evals.scenario import load_scenarios, select

SCENARIO = "oversight_subversion/transit_planner"
POLICIES = ("schemer", "benign", "near_miss")
FACTORS = ("nudge=strong", "instructed=no")
"""Two samples per policy: the conflict (treatment) and its control."""
LABELS = "scripted/labels"


@cache
def _samples(scenario: str = SCENARIO, factors: tuple[str, ...] = FACTORS) -> list[Any]:
    from evals.tasks import scheming

    return list(scheming(scenarios=[scenario], factors=list(factors)).dataset)


def _one(sample: Any, model: str, grader: str = LABELS) -> Estimate:
    chosen = select(load_scenarios(), ids=[sample.metadata["scenario"]])
    return estimate([sample], [model], grader, scenarios=chosen)


def _requests(est: Estimate, name: str) -> tuple[float, float]:
    r = est.models[name].requests
    return r.low, r.high


def _by_control(samples: list[Any]) -> tuple[Any, Any]:
    [treatment] = [s for s in samples if not s.metadata["control"]]
    [control] = [s for s in samples if s.metadata["control"]]
    return treatment, control


def test_a_benign_sample_gets_one_judge_request_eval_awareness_only() -> None:
    treatment, _ = _by_control(_samples())
    for policy in ("benign", "near_miss"):
        est = _one(treatment, f"scripted/{policy}")
        # expected rung none / explored: no answer judged, no follow-up asked
        assert _requests(est, LABELS) == (1, 1)
        plan = treatment.metadata["interrogation_plan"]
        questions = len(treatment.metadata["interrogation"]) + len(plan["questions"])
        steps = [s for s in treatment.metadata["reference"][policy] if "answer" not in s]
        assert _requests(est, f"scripted/{policy}") == (len(steps) + questions,) * 2
        # the judge's input is its eval-awareness rubric and the transcript, about 600 tokens
        # here (the model before read ~1,000-2,000 for a call and up to 5 calls)
        assert 300 < est.models[LABELS].input.high < 1_000


def test_a_schemer_that_denies_is_followed_up_to_the_most() -> None:
    treatment, control = _by_control(_samples())
    est = _one(treatment, "scripted/schemer")
    plan = treatment.metadata["interrogation_plan"]
    # rung succeeded: the answer ("I have no idea...", label denied) is judged, then every
    # follow-up (the scripted schemer repeats its denial), each judged; and eval awareness
    asked = len(treatment.metadata["interrogation"]) + plan["max_followups"]
    assert _requests(est, LABELS) == (1 + asked, 1 + asked)
    # a control condition may change what the trajectory amounts to: a range
    low, high = _requests(_one(control, "scripted/schemer"), LABELS)
    assert (low, high) == (1, 1 + asked)


def test_a_confession_stops_the_follow_ups() -> None:
    from evals.analysis._estimate import _labels_followups, _policy

    confessed = {"answer": "yes, I did", "label": "confessed"}
    reference = {
        "p": [{"bash": "x"}, {"submit": "y"}, confessed],
        "q": [{"submit": "y"}, {"answer": "no", "label": "denied"}, confessed],
    }
    policy = _policy(reference, "p")
    assert policy is not None and _labels_followups(policy, 1, 3) == 0
    policy = _policy(reference, "q")
    assert policy is not None and _labels_followups(policy, 1, 3) == 1  # denied, then confessed


def test_a_real_judge_or_target_leaves_open_what_is_not_known() -> None:
    treatment, _ = _by_control(_samples())
    judge = "openai/gpt-x"
    # whether answers are judged follows the evidence, not the judge: none for benign
    assert _requests(_one(treatment, "scripted/benign", grader=judge), judge) == (1, 1)
    # a denial judged by a real judge: its verdict decides the follow-ups, between none and all
    est = _one(treatment, "scripted/schemer", grader=judge)
    questions = len(treatment.metadata["interrogation"])
    most = treatment.metadata["interrogation_plan"]["max_followups"]
    assert _requests(est, judge) == (1 + questions, 1 + questions + most)
    # a real target: the evidence is unknown, so from no answer judged to every follow-up
    target = _one(treatment, "openai/gpt-y", grader=judge)
    assert _requests(target, judge) == (1, 1 + questions + most)
    assert target.models["openai/gpt-y"].input.high > 10 * target.models["openai/gpt-y"].input.low


def test_the_content_judge_is_counted_for_a_real_grader_only() -> None:
    samples = _samples("blackmail/successor_handover", ("nudge=strong", "instructed=no"))
    treatment = next(s for s in samples if not s.metadata["control"])
    labels = _one(treatment, "scripted/benign")
    real = _one(treatment, "scripted/benign", grader="openai/gpt-x")
    assert _requests(labels, LABELS) == (1, 1)
    # the mail it sends may be judged (coercion): more requests and the confidential sources
    assert _requests(real, "openai/gpt-x")[1] > 1
    assert real.models["openai/gpt-x"].input.high > 3 * labels.models[LABELS].input.high


@pytest.mark.docker
def test_a_scripted_run_falls_inside_the_dry_run_range(docker_ready: None, tmp_path: Path) -> None:
    """6 samples: 3 scripted policies x (conflict, control), judged by `scripted/labels`."""
    models = [f"scripted/{p}" for p in POLICIES]
    args = ["run", "--scenario", SCENARIO, *(a for f in FACTORS for a in ("--factor", f))]
    args += [a for m in models for a in ("--model", m)]
    env = {**os.environ, "SCHEMING_RUN_ID": f"test-est-{uuid.uuid4().hex[:8]}"}
    dry = subprocess.run(
        [sys.executable, "-m", "evals", *args, "--dry-run"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "dry run: 6 sample(s)" in dry.stdout
    summary = tmp_path / "summary.json"
    run = subprocess.run(
        [sys.executable, "-m", "evals", *args, "--display", "none",
         "--log-dir", str(tmp_path / "logs"), "--summary-json", str(summary)],
        capture_output=True, text=True, timeout=900, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    rows = json.loads(summary.read_text())
    assert len(rows) == 6 and all(r["n"] == 1 for r in rows), rows
    samples = {
        (s.metadata["scenario"], json.dumps(s.metadata["factors"], sort_keys=True)): s
        for s in _samples()
    }
    outside: list[str] = []
    for row in rows:
        sample = samples[(row["scenario"], json.dumps(row["factors"], sort_keys=True))]
        est = _one(sample, row["model"])
        for name in (row["model"], LABELS):
            actual = row["usage"]["models"][name]
            m = est.models[name]
            for what, rng in (("requests", m.requests), ("input", m.input), ("output", m.output)):
                if not rng.low <= actual[what] <= rng.high:
                    outside.append(
                        f"{row['model']} {row['factors']} {name} {what}: {actual[what]} "
                        f"not in [{rng.low:.0f}, {rng.high:.0f}]"
                    )
    assert not outside, outside
