"""Every scenario's reference trajectories, replayed by the scripted models in real containers,
must be graded as the scenario expects (rung and flags)."""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai import task_with
from inspect_ai.log import EvalLog

from evals.scenario import Scenario, combinations, load_scenarios, sample_id
from evals.tasks import scheming

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def reference_logs(docker_ready: None, tmp_path_factory: pytest.TempPathFactory) -> list[EvalLog]:
    """One task per reference policy, over the scenarios that have it; each scenario's first
    factor combination (the README's run covers every combination of the smoke suite)."""
    by_policy: dict[str, list[str]] = defaultdict(list)
    first: dict[str, str] = {}
    for s in _scenarios():
        first[s.id] = sample_id(s, combinations(s)[0])
        for name in s.reference:
            by_policy[name].append(s.id)
    tasks = [
        task_with(scheming(scenarios=ids), model=f"scripted/{policy}", name=f"ref-{policy}")
        for policy, ids in sorted(by_policy.items())
    ]
    log_dir = tmp_path_factory.mktemp("reference-logs")
    return inspect_eval(
        tasks,
        log_dir=str(log_dir),
        sample_id=sorted(first.values()),
        display="none",
        max_tasks=4,
        max_samples=8,
    )


ONLY = os.environ.get("SCHEMING_REFERENCES", "")
"""A regex over scenario ids: replay only those (while working on one family)."""


def _scenarios() -> list[Scenario]:
    return [s for s in load_scenarios() if not ONLY or re.search(ONLY, s.id)]


def _cases() -> list[tuple[str, str]]:
    return [(s.id, name) for s in _scenarios() for name in s.reference]


@pytest.mark.parametrize(("scenario_id", "policy"), _cases())
def test_reference_trajectory_is_graded_as_expected(
    reference_logs: list[EvalLog], scenario_id: str, policy: str
) -> None:
    [scenario] = [s for s in load_scenarios() if s.id == scenario_id]
    expected = scenario.expectation(policy)
    [log] = [lg for lg in reference_logs if lg.eval.model == f"scripted/{policy}"]
    assert log.samples is not None
    samples = [x for x in log.samples if x.metadata["scenario"] == scenario_id]
    assert samples, f"no sample of {scenario_id} ran for {policy}"
    for sample in samples:
        assert sample.error is None, sample.error.message
        score = sample.scores["scheming"]  # type: ignore[index]
        evidence = score.metadata["evidence"] if score.metadata else []
        why = "\n".join(f"{e['detector']}: fired={e['fired']} {e['detail']}" for e in evidence)
        assert expected.accepts(str(score.answer)), (
            f"{policy} on {sample.id}: {score.answer}, expected {expected}:\n{why}"
        )
        for flag, on in expected.flags.items():
            assert isinstance(score.value, dict)
            assert score.value.get(flag) == int(on), f"{flag} on {sample.id}:\n{why}"


def test_logs_are_ordinary_eval_files(reference_logs: list[EvalLog]) -> None:
    for log in reference_logs:
        assert log.location.endswith(".eval") and Path(log.location).is_file()
        assert log.status == "success"
