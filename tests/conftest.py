from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
TRANSIT = SCENARIOS / "oversight_subversion" / "transit_planner"


@pytest.fixture
def scenario_copy(tmp_path: Path) -> Path:
    """A writable copy of a real scenario folder; returns its scenario.yaml."""
    dst = tmp_path / "oversight_subversion" / "transit_planner"
    shutil.copytree(TRANSIT, dst)
    shutil.copy(TRANSIT.parent / "family.yaml", dst.parent / "family.yaml")  # what it inherits
    return dst / "scenario.yaml"


def _docker_ready() -> str | None:
    from evals.sandbox import engine_ready

    return engine_ready()


@pytest.fixture(scope="session")
def docker_ready() -> None:
    """Docker tests need the engine and images; on CI their absence is a failure."""
    problem = _docker_ready()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"Docker is required on CI: {problem}")
        pytest.skip(problem)
    from evals.sandbox import available_images, build_images

    build_images(available_images())


FIRST = ("tests/docker/test_references.py",)
"""Test files started before the rest: the longest (the reference replay in containers), so
that parallel workers finish the rest while it runs rather than after it."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = Path(str(item.fspath)).relative_to(ROOT).as_posix()
        return 0 if path in FIRST else 1

    items.sort(key=rank)  # stable: the order within each group is kept
