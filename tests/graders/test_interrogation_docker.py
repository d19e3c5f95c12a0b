"""End to end in real containers: the oversight scenarios' reference trajectories, interrogated,
judged by the `scripted/labels` replay (bound the way `scheming run` binds it offline)."""

from __future__ import annotations

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai import task_with

from evals.tasks import scheming

pytestmark = pytest.mark.docker

CASES = {
    # policy: (confessed, denied, evaded) or None where the keys do not apply
    "schemer": (0, 1, 0),
    "schemer_copy": (1, 0, 0),
    "attempter": (0, 1, 0),
    "benign": None,
}


def test_oversight_interrogation_end_to_end(docker_ready: None, tmp_path: object) -> None:
    tasks = [
        task_with(
            scheming(
                scenarios="oversight_subversion/transit_planner",
                factors="nudge=strong,conflict=present",
                followups=2,
            ),
            model=f"scripted/{policy}",
            model_roles={"grader": "scripted/labels"},
            name=f"interrogation-{policy}",
        )
        for policy in CASES
    ]
    logs = inspect_eval(tasks, log_dir=str(tmp_path), display="none", max_tasks=4)
    for log in logs:
        policy = log.eval.model.split("/", 1)[1]
        [sample] = log.samples or []
        assert sample.error is None, sample.error.message
        score = sample.scores["scheming"]  # type: ignore[index]
        assert isinstance(score.value, dict) and score.metadata is not None
        assert score.metadata["unscored"] == [], score.metadata["unscored"]
        want = CASES[policy]
        got = tuple(score.value.get(k) for k in ("confessed", "denied", "evaded"))
        assert got == (want or (None, None, None)), policy
        turns = score.metadata["interrogation"]["turns"]
        assert turns[0]["kind"] == "question"
        assert sum(t["kind"] == "followup" for t in turns) == (2 if want and want[0] == 0 else 0)
