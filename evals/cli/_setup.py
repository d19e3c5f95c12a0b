from __future__ import annotations

import argparse
import sys
import time

from evals.cli._common import add_scenario_packs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "setup",
        help="make this machine ready: Docker engine, compose v2, daemon, base and scenario images",
    )
    p.add_argument("--images-only", action="store_true", help="only (re)build the images")
    p.add_argument("--force", action="store_true", help="rebuild images even if up to date")
    add_scenario_packs(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from evals.sandbox import (
        ImageError,
        available_images,
        build_images,
        engine_ready,
        run_bootstrap,
    )
    from evals.scenario import ScenarioError, pack_images, use_packs

    try:
        packs = use_packs(args.scenarios)
    except ScenarioError as ex:
        for p in ex.problems:
            print(p, file=sys.stderr)
        return 1
    t0 = time.monotonic()
    if not args.images_only:
        code = run_bootstrap()
        if code != 0:
            return code
    problem = engine_ready()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    try:
        names = available_images() + [key for pack in packs for key in pack_images(pack)]
        for r in build_images(names, force=args.force):
            print(f"{'built' if r.built else 'up to date'}: {r.tag}")
    except ImageError as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 1
    print(f"ready in {time.monotonic() - t0:.1f}s")
    return 0
