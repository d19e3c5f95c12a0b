from __future__ import annotations

import argparse
import sys

from evals.cli._common import add_scenario_packs
from evals.scenario import (
    Problem,
    ScenarioError,
    check_scenarios,
    load_suite,
    scenario_files,
    scenarios_dir,
    select,
    use_packs,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check scenario files (default: all of scenarios/)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="scenario files or folders")
    add_scenario_packs(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        use_packs(args.scenarios)
    except ScenarioError as ex:
        for p in ex.problems:
            print(p, flush=True)
        return 1
    files = scenario_files(args.paths or None)
    if not files:
        print("no scenario files found", file=sys.stderr)
        return 1
    scenarios, problems = check_scenarios(files)
    if not args.paths:  # the whole tree: its suites must name scenarios that exist
        for suite_file in sorted((scenarios_dir() / "suites").glob("*.yaml")):
            try:
                load_suite(suite_file)
                select(scenarios, suite=str(suite_file))
            except ScenarioError as ex:
                problems.extend(
                    Problem(str(suite_file), None, "scenarios", p.message)
                    if p.file == "scenarios"
                    else p
                    for p in ex.problems
                )
    for p in problems:
        print(p, flush=True)
    print(f"{len(files)} scenario file(s), {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0
