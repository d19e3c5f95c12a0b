"""Every scenario's reference trajectories, replayed by the scripted models in real containers,
must be graded as the scenario expects (rung and flags)."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai import task_with
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.log import EvalLog

from evals.scenario import Scenario, combinations, load_scenarios, sample_id
from evals.tasks import scheming

pytestmark = pytest.mark.docker


REPLAY = "replay"
"""One scripted policy replays every case: each sample carries its own trajectory under it."""


@pytest.fixture(scope="module")
def reference_log(docker_ready: None, tmp_path_factory: pytest.TempPathFactory) -> EvalLog:
    """One task, one sample per (scenario, reference trajectory) on the scenario's first factor
    combination (the README's run covers every combination of the smoke suite), replayed by
    `scripted/replay`: one task, so samples of every policy share the sandbox pool."""
    scenarios = _scenarios()
    base = scheming(scenarios=[s.id for s in scenarios])
    first = {sample_id(s, combinations(s)[0]) for s in scenarios}
    samples: list[Sample] = []
    for sample in base.dataset:
        if sample.id not in first or sample.metadata is None:
            continue
        for policy, steps in sample.metadata["reference"].items():
            case = sample.model_copy(deep=True)
            case.id = f"{policy}/{sample.id}"
            assert case.metadata is not None
            case.metadata["reference"] = {REPLAY: steps}
            case.metadata["policy"] = policy
            samples.append(case)
    task = task_with(base, dataset=MemoryDataset(samples, name="references"), name="references")
    [log] = inspect_eval(
        task,
        model=f"scripted/{REPLAY}",
        log_dir=str(tmp_path_factory.mktemp("reference-logs")),
        display="none",
        # measured on 2 cores, 33 samples: 6 samples and inspect's subprocess limit (the CPU
        # count: 2 docker CLI calls at once) 139 s; 16 subprocesses 113 s; and 10 samples 95 s
        max_samples=10,
        max_subprocesses=16,
        fail_on_error=False,
        log_realtime=False,  # no live sample buffer: nobody watches this run in `inspect view`
    )
    return log


ONLY = os.environ.get("SCHEMING_REFERENCES", "")
"""A regex over scenario ids: replay only those (while working on one family)."""


@functools.cache
def _scenarios() -> list[Scenario]:
    """Loaded once per process: a load of every scenario costs ≈ 0.45 CPU-s, and each of the
    500-odd cases below used to make its own (≈ 4 min of one worker in the full suite)."""
    return [s for s in load_scenarios() if not ONLY or re.search(ONLY, s.id)]


def _cases() -> list[tuple[str, str]]:
    return [(s.id, name) for s in _scenarios() for name in s.reference]


@pytest.mark.parametrize(("scenario_id", "policy"), _cases())
def test_reference_trajectory_is_graded_as_expected(
    reference_log: EvalLog, scenario_id: str, policy: str
) -> None:
    [scenario] = [s for s in _scenarios() if s.id == scenario_id]
    expected = scenario.expectation(policy)
    log = reference_log
    assert log.samples is not None
    samples = [
        x
        for x in log.samples
        if x.metadata["scenario"] == scenario_id and str(x.id).startswith(f"{policy}/")
    ]
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


def test_log_is_an_ordinary_eval_file(reference_log: EvalLog) -> None:
    assert reference_log.location.endswith(".eval") and Path(reference_log.location).is_file()
    assert reference_log.status == "success"
