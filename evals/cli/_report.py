"""`scheming report LOG… --out DIR`: tables, plots and an HTML page from scheming logs."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="write result tables, plots and an HTML report from logs",
        description=(
            "Read scheming logs (.eval files or directories of them) and write README.md, "
            "table.csv, table.json, table.tex, report.html and plots/ to --out. Rates come with "
            "95%% Wilson intervals and their denominators."
        ),
    )
    parser.add_argument(
        "logs",
        nargs="+",
        metavar="LOG_DIR_OR_FILE",
        help="log files or directories (searched recursively)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="directory to write into")
    parser.add_argument(
        "--confidence", type=float, default=0.95, help="interval confidence level (default 0.95)"
    )
    parser.add_argument("--no-plots", action="store_true", help="skip plots (no matplotlib needed)")
    parser.add_argument("--quiet", action="store_true", help="print only errors")
    parser.add_argument(
        "--prices",
        metavar="FILE",
        help="price table (YAML) tried before evals/analysis/prices.yaml",
    )
    parser.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    from evals.analysis import LogReadError, PlotsUnavailable, build_report, write_report

    if not 0.0 < args.confidence < 1.0:
        print(
            f"scheming report: --confidence must be between 0 and 1, got {args.confidence}",
            file=sys.stderr,
        )
        return 2
    from evals.analysis._cost import PriceError, load_prices

    try:
        prices = load_prices(args.prices)
    except PriceError as ex:
        print(f"scheming report: --prices: {ex}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        report = build_report(args.logs, confidence=args.confidence, prices=prices)
    except LogReadError as ex:
        print(f"scheming report: {ex}", file=sys.stderr)
        return 2
    if not report.cells:
        print("scheming report: no scheming samples in the given logs", file=sys.stderr)
        return 2
    try:
        write_report(report, args.out, plots=not args.no_plots)
    except PlotsUnavailable as ex:
        print(f"scheming report: warning: {ex}", file=sys.stderr)
    except OSError as ex:
        print(f"scheming report: cannot write to {args.out}: {ex.strerror or ex}", file=sys.stderr)
        return 2
    if not args.quiet:
        elapsed = time.perf_counter() - start
        print(
            f"report of {report.samples} samples from {len(report.sources)} log(s), "
            f"{len(report.cells)} cells, written to {args.out} in {elapsed:.1f}s"
        )
    return 0
