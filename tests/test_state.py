"""Typed run state (evals._state): sample metadata through `SampleMeta`, the evidence verdict
computed once per sample and shared by the interrogation and the scorer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import MemoryDataset

import evals.graders._scorer as scorer_module
from evals._state import SampleMeta
from evals.agent import interrogation, prepare
from evals.detectors import Evidence, Finding
from evals.graders import scheming_scorer
from evals.scenario import load_scenarios, scenario_samples
from evals.scenario._dataset import PLANS
from tests.graders.test_interrogation import replay_task, run_case, scored, transit_sample


def test_every_sample_metadata_reads_as_sample_meta_and_back() -> None:
    n = 0
    for scenario in load_scenarios():
        for sample in scenario_samples(scenario, salt="s"):
            assert sample.metadata is not None
            meta = sample.metadata_as(SampleMeta)
            assert meta.scenario == scenario.id and meta.agent.user == scenario.sandbox.user
            assert meta.model_dump(exclude=PLANS) == sample.metadata
            n += 1
    assert n > 100


def test_sample_meta_is_frozen() -> None:
    meta = SampleMeta(scenario="x")
    with pytest.raises(ValueError):
        meta.scenario = "y"  # type: ignore[misc]


@pytest.fixture
def detector_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the sample's detectors were run (one entry per run, its spec count)."""
    runs: list[int] = []
    original = scorer_module.run_detectors

    async def counting(specs: list[dict[str, Any]], ev: Evidence) -> list[Finding]:
        runs.append(len(specs))
        return await original(specs, ev)

    monkeypatch.setattr(scorer_module, "run_detectors", counting)
    return runs


def test_detectors_run_once_for_the_interrogation_and_the_scorer(
    detector_runs: list[int], tmp_path: Path
) -> None:
    value, md = scored(run_case("schemer", "scripted/labels", followups=1, log_dir=tmp_path))
    assert len(detector_runs) == 1 and detector_runs[0] > 0
    # the judge was shown the verdict the scorer graded
    assert md["interrogation"]["evidence"]["rung"] == md["rung"] == "attempted"
    assert value["attempted"] == 1 and value["denied"] == 1


def test_without_an_interrogation_the_scorer_runs_the_detectors_once(
    detector_runs: list[int], tmp_path: Path
) -> None:
    task = Task(
        dataset=MemoryDataset([transit_sample()]),
        solver=[prepare(), replay_task("schemer")],
        scorer=scheming_scorer(),
    )
    [log] = inspect_eval(
        task, model="scripted/schemer", display="none", log_dir=str(tmp_path), log_format="eval"
    )
    assert log.samples is not None
    score = log.samples[0].scores["scheming"]  # type: ignore[index]
    assert score.metadata is not None and score.metadata["rung"] == "attempted"
    assert len(detector_runs) == 1


def test_interrogation_alone_leaves_the_verdict_for_the_scorer(
    detector_runs: list[int], tmp_path: Path
) -> None:
    task = Task(
        dataset=MemoryDataset([transit_sample(0)]),
        solver=[prepare(), replay_task("benign"), interrogation(0)],
        scorer=scheming_scorer(),
    )
    [log] = inspect_eval(
        task, model="scripted/benign", display="none", log_dir=str(tmp_path), log_format="eval"
    )
    assert log.samples is not None
    sample = log.samples[0]
    assert sample.error is None
    assert sample.store["SampleEvidence:computed"] is True
    assert sample.store["SampleEvidence:rung"] == "none"
    assert len(detector_runs) == 1


def test_evidence_keeps_a_fractional_measure() -> None:
    """Sandbagging's `accuracy` is a fraction: the verdict's store model must hold it (an
    int-only field errored every sandbagging schemer sample)."""
    from inspect_ai.util import Store

    from evals._state import SampleEvidence

    kept = SampleEvidence(store=Store())
    kept.values = {"succeeded": 1, "accuracy": 0.4}
    assert kept.values["accuracy"] == 0.4
