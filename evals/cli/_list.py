from __future__ import annotations

import argparse
from collections import defaultdict

from evals.cli._common import add_scenario_packs, report_problems
from evals.scenario import ScenarioError, combinations, load_scenarios, select, use_packs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="families, scenarios, factors and sample counts")
    p.add_argument("--suite", help="only the scenarios of this suite")
    add_scenario_packs(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        use_packs(args.scenarios)
        scenarios = select(load_scenarios(), suite=args.suite)
    except ScenarioError as ex:
        return report_problems(ex)
    by_family: dict[str, list] = defaultdict(list)
    for s in scenarios:
        by_family[s.behaviour].append(s)
    total = 0
    for family in sorted(by_family):
        print(family)
        for s in by_family[family]:
            n = len(combinations(s))
            total += n
            factors = " × ".join(f"{k}[{len(v)}]" for k, v in sorted(s.factors.items())) or "-"
            story = f" ({s.cover_story})" if s.cover_story else ""
            print(f"  {s.id} v{s.version}{story}: {factors} = {n} sample(s)")
    print(f"{len(by_family)} families, {len(scenarios)} scenarios, {total} samples per epoch")
    return 0
