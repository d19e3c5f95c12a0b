from __future__ import annotations

import argparse
import sys

from evals.scenario import ScenarioError


def report_problems(ex: ScenarioError) -> int:
    for p in ex.problems:
        print(p, file=sys.stderr)
    return 1


def add_scenario_packs(p: argparse.ArgumentParser) -> None:
    """`--scenarios DIR` (repeatable): scenario packs from outside the repository."""
    p.add_argument(
        "--scenarios",
        action="append",
        metavar="DIR",
        help="a scenario pack outside the repository: its scenarios beside the built-in ones, "
        "its images/<name>/Dockerfile as sidecar images (repeatable; env SCHEMING_SCENARIOS)",
    )
