from __future__ import annotations

import sys

from evals.scenario import ScenarioError


def report_problems(ex: ScenarioError) -> int:
    for p in ex.problems:
        print(p, file=sys.stderr)
    return 1
