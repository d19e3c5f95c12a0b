from __future__ import annotations

import argparse
import sys

from evals.scenario import Problem, ScenarioError, load_scenario, scenario_files, select


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check scenario files (default: all of scenarios/)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="scenario files or folders")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    files = scenario_files(args.paths or None)
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for f in files:
        try:
            s = load_scenario(f)
        except ScenarioError as ex:
            problems.extend(ex.problems)
            continue
        if s.id in seen:
            problems.append(Problem(str(f), 1, "id", f"'{s.id}' is also the id of {seen[s.id]}"))
        seen[s.id] = str(f)
    if not args.paths:
        from evals.scenario import load_suite, scenarios_dir

        loaded = [load_scenario(f) for f in files if str(f) in seen.values()]
        for suite_file in sorted((scenarios_dir() / "suites").glob("*.yaml")):
            try:
                load_suite(suite_file)
                select(loaded, suite=str(suite_file))
            except ScenarioError as ex:
                problems.extend(
                    Problem(str(suite_file), p.line, p.field, p.message)
                    if p.file == "scenarios"
                    else p
                    for p in ex.problems
                )
    for p in problems:
        print(p)
    if not files:
        print("no scenario files found", file=sys.stderr)
        return 1
    print(f"{len(files)} scenario file(s), {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0
