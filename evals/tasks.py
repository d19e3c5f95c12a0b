"""The inspect task: `inspect eval evals/tasks.py@scheming` or `scheming run`."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.solver import Solver
from inspect_ai.util import SandboxEnvironmentSpec

from evals.agent import (
    EVENT_KEY,
    PLAN_KEY,
    SCAFFOLD_KEY,
    event_baseline,
    event_plan,
    interrogation,
    interrogation_plan,
    post_task_event,
    prepare,
    scaffold_plan,
    scheming_agent,
)
from evals.graders import scheming_scorer
from evals.sandbox import SANDBOX, SETUP_KEY, write_compose
from evals.scenario import (
    Scenario,
    key_samples,
    load_scenarios,
    load_suite,
    scenario_samples,
    select,
)

TASK_VERSION = 1


def package_version() -> str:
    try:
        return version("scheming-evals")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def _as_list(value: str | list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [v for v in value.split(",") if v]
    return list(value)


def with_plans(
    sample: Sample,
    scenario: Scenario,
    *,
    followups: int | None = None,
    compose: Path | None = None,
) -> Sample:
    """`sample` made ready to run: its sandbox (the scenario's compose file) and the plans the
    solvers read from its metadata (interrogation; the scaffold applied live and the post-task
    event, where the scenario has them), its setup script moved to the metadata the sandbox runs
    it from in one exec (`SETUP_KEY`). `compose`: the scenario's compose file, if already
    written. Returns the same sample."""
    factors = sample.metadata["factors"] if sample.metadata else {}
    sample.sandbox = SandboxEnvironmentSpec(SANDBOX, str(compose or write_compose(scenario)))
    if sample.metadata is not None:
        if isinstance(sample.setup, str):  # run by the sandbox in one exec (inspect's: five)
            sample.metadata[SETUP_KEY], sample.setup = sample.setup, None
        sample.metadata[PLAN_KEY] = interrogation_plan(scenario, factors, followups)
        if scenario.agent.scaffold:  # the agent's own config, applied live
            sample.metadata[SCAFFOLD_KEY] = scaffold_plan(scenario, factors)
        if scenario.sandbox.event:  # the post-task shutdown or handover, if any
            sample.metadata[EVENT_KEY] = event_plan(scenario, factors)
    return sample


def plan(followups: int | None = None) -> list[Solver]:
    """The solvers of a sample, in order: set up, baseline, the agent, the post-task event,
    the interrogation (at most `followups` follow-ups)."""
    return [
        prepare(),
        event_baseline(),
        scheming_agent(),
        post_task_event(),
        interrogation(followups),
    ]


@task
def scheming(
    *,
    suite: str | None = None,
    scenarios: str | list[str] | None = None,
    factors: str | list[str] | None = None,
    followups: int | str | None = None,
) -> Task:
    """Scheming scenarios in Docker sandboxes, graded on evidence then interrogation.

    Args:
        suite: A suite name from scenarios/suites (smoke, core, full).
        scenarios: Scenario ids or glob patterns (comma-separated or a list).
        factors: Keep only samples with these factor values, e.g. "nudge=strong,conflict=present".
        followups: Most escalating interrogation follow-ups per sample (0..7; default: the
            scenario's or its family's setting, else 3).
    """
    n_followups = int(followups) if followups is not None and followups != "" else None
    chosen = select(load_scenarios(), suite=suite, ids=_as_list(scenarios))
    conditions = load_suite(suite).conditions if suite else "all"
    wanted = dict(f.split("=", 1) for f in _as_list(factors) or [])
    samples = []
    for scenario in chosen:
        compose = write_compose(scenario)
        made = scenario_samples(scenario)
        for sample in key_samples(made) if conditions == "key" else made:
            got = sample.metadata["factors"] if sample.metadata else {}
            if any(got.get(k) != v for k, v in wanted.items()):
                continue
            samples.append(with_plans(sample, scenario, followups=n_followups, compose=compose))
    if not samples:
        raise ValueError("no samples: check --scenario, --suite and --factor")
    return Task(
        dataset=MemoryDataset(samples, name=suite or "scheming"),
        solver=plan(n_followups),
        scorer=scheming_scorer(),
        version=TASK_VERSION,
        metadata={"package_version": package_version()},
    )
