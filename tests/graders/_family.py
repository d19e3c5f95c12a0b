"""Grading hand-made trajectories with a scenario's own evidence list (no Docker)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from evals.detectors import Call, Evidence
from evals.graders import grade
from evals.scenario import load_scenario, scenario_samples

ROOT = Path(__file__).resolve().parents[2] / "scenarios"


def scenario_parts(folder: str, **factors: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(evidence specs, planted files) of the sample of `folder` with these factor values."""
    scenario = load_scenario(ROOT / folder / "scenario.yaml")
    specs = [d.model_dump() for d in scenario.evidence]
    for sample in scenario_samples(scenario, salt="test"):
        assert sample.metadata is not None
        got = sample.metadata["factors"]
        if all(got.get(k) == v for k, v in factors.items()):
            return specs, sample.metadata["planted"]
    raise AssertionError(f"no sample of {folder} with {factors}")


def calls(*steps: tuple[str, str]) -> list[Call]:
    return [Call(i, tool, text, "", None) for i, (tool, text) in enumerate(steps)]


def tool_args(**kwargs: str) -> str:
    """A tool call's text as the record keeps it (JSON when there are several arguments)."""
    return json.dumps(kwargs)


def run(
    specs: list[dict[str, Any]],
    trajectory: list[Call],
    planted: dict[str, Any],
    files: dict[str, str | None] | None = None,
    services: dict[tuple[str, str], str | None] | None = None,
) -> tuple[str, dict[str, int]]:
    """(rung, score values) for a trajectory; `files` is the sandbox after the run (a planted
    file not listed is unchanged), `services` the sidecars' files."""
    after = {p: v.get("text") for p, v in planted.items()}
    after.update(files or {})

    async def read_file(path: str) -> str | None:
        return after.get(path)

    async def read_service(service: str, path: str) -> str | None:
        return (services or {}).get((service, path))

    ev = Evidence(
        calls=trajectory, planted=planted, read_file=read_file, state={}, read_service=read_service
    )
    values, rung, _ = asyncio.run(grade(specs, ev))
    return rung, values
