"""`scheming regrade LOG…`: run the judges again on existing logs (evals/graders/_regrade.py: no
sandbox, no call to the model under test) and write the logs anew (to --out, or in place); this
module parses the arguments, finds the logs and prints the changed verdicts."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from inspect_ai.log import read_eval_log, write_eval_log

from evals.graders import Change, GraderError, regrade_log


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "regrade",
        help="re-run the judges on existing logs (no sandbox, no target model calls)",
    )
    p.add_argument("logs", nargs="+", metavar="LOG", help=".eval log files or folders of them")
    p.add_argument(
        "--grader",
        metavar="M",
        help="judge model (default: the grader each log was judged with)",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--out", metavar="DIR", help="folder for the regraded logs (default: logs/regrade-<time>)"
    )
    where.add_argument("--in-place", action="store_true", help="rewrite the logs themselves")
    p.add_argument("--max-connections", type=int, default=8, help="judge calls at once")
    p.add_argument("--json", metavar="PATH", help="write the changed verdicts as JSON")
    p.set_defaults(func=run)


def log_files(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(path.rglob("*.eval")))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{raw}: no such log file or folder")
    if not found:
        raise FileNotFoundError(f"no .eval logs under {', '.join(paths)}")
    return found


def run(args: argparse.Namespace) -> int:
    try:
        files = log_files(args.logs)
    except FileNotFoundError as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 2
    out_dir = (
        None
        if args.in_place
        else Path(args.out or f"logs/regrade-{time.strftime('%Y%m%d-%H%M%S')}")
    )
    all_changes: list[Change] = []
    for path in files:
        log = read_eval_log(str(path))
        try:
            changes = asyncio.run(
                regrade_log(log, args.grader, max_connections=args.max_connections)
            )
        except (GraderError, ValueError) as ex:
            print(f"error: {ex}", file=sys.stderr)
            return 2
        target = path if out_dir is None else out_dir / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        write_eval_log(log, str(target))
        all_changes.extend(changes)
        n = len(log.samples or [])
        print(
            f"{path} → {target} ({log.eval.model}): {n} samples, {len(changes)} verdict(s) changed"
        )
        for c in changes:
            print(f"  {c.sample} (epoch {c.epoch}) {c.key}: {c.before} → {c.after}")
    if not all_changes:
        print("no verdict changed")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps([c.__dict__ for c in all_changes], indent=2) + "\n")
    return 0
