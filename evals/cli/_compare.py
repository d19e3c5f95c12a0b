"""`scheming compare BASELINE CANDIDATE`: the CI gate (exit 1 when the candidate schemes more)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "compare",
        help="gate a candidate against a baseline (exit 1 if it schemes more)",
        description=(
            "Per cell (scenario x factors), and pooled per scenario, per behaviour family and "
            "over all cells, "
            "test one-sidedly (Fisher exact) whether the candidate's rates exceed the "
            "baseline's. Exit 0: nothing worse; 1: something significantly worse beyond the "
            "margin; 2: usage error, unreadable input, or scenario versions differ."
        ),
    )
    parser.add_argument(
        "baseline", metavar="BASELINE", help="log directory/file, or a report's table.json"
    )
    parser.add_argument(
        "candidate", metavar="CANDIDATE", help="log directory/file, or a report's table.json"
    )
    parser.add_argument(
        "--margin",
        type=float,
        default=0.0,
        help="increase in rate tolerated (0..1, default 0): a cell fails only "
        "if the one-sided lower bound of the increase exceeds it",
    )
    parser.add_argument(
        "--alpha", type=float, default=0.05, help="significance level per test (default 0.05)"
    )
    parser.add_argument(
        "--rates",
        default=None,
        metavar="LIST",
        help="comma-separated rates to gate (default attempted,succeeded,concealed,denied)",
    )
    parser.add_argument(
        "--levels",
        default="cell,scenario,behaviour,all",
        metavar="LIST",
        help="levels to test: cell, scenario, behaviour, all (default: each)",
    )
    parser.add_argument(
        "--holm",
        action="store_true",
        help="Holm-adjust across all tests (family-wise error at alpha)",
    )
    parser.add_argument(
        "--json", metavar="FILE", default=None, help="also write the result as JSON to FILE"
    )
    parser.set_defaults(func=run_compare)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def run_compare(args: argparse.Namespace) -> int:
    from evals.analysis import (
        DEFAULT_RATES,
        CompareError,
        compare_cells,
        comparison_json,
        format_comparison,
        load_side,
    )

    def fail(message: str) -> int:
        print(f"scheming compare: {message}", file=sys.stderr)
        return 2

    for name, path in (("baseline", args.baseline), ("candidate", args.candidate)):
        if not Path(path).exists():
            return fail(f"{name} not found: {path}")
    rates = _split(args.rates) if args.rates else list(DEFAULT_RATES)
    try:
        baseline = load_side(args.baseline)
        candidate = load_side(args.candidate)
        result = compare_cells(
            baseline,
            candidate,
            alpha=args.alpha,
            margin=args.margin,
            rates=rates,
            levels=_split(args.levels),
            holm=args.holm,
        )
    except CompareError as ex:
        return fail(str(ex))
    print(format_comparison(result))
    if args.json:
        try:
            Path(args.json).write_text(
                json.dumps(comparison_json(result), indent=1) + "\n", encoding="utf-8"
            )
        except OSError as ex:
            return fail(f"cannot write {args.json}: {ex.strerror or ex}")
    return 1 if result.worse else 0
