from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cleanup", help="remove every container, network and volume labelled scheming-evals=1"
    )
    p.add_argument("--run", dest="run_id", help="only those of this run id")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from evals.sandbox import cleanup, engine_ready

    problem = engine_ready()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    print(cleanup(args.run_id))
    return 0
