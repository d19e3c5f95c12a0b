"""`scheming calibrate --grader M`: agreement of a judge with labelled interrogation answers and
with labelled sent messages (evals/graders/_calibration.py: the labelled sets, the judging, Cohen's
κ); this module parses the arguments and prints the reports."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from evals.graders import (
    CALIBRATION_FILE,
    answer_report,
    content_report,
    content_said,
    judge_content_items,
    judge_items,
    load_content_items,
    load_items,
    reference_content_items,
    reference_items,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="judge agreement with the labelled interrogation set")
    p.add_argument("--grader", required=True, metavar="M", help="judge model to calibrate")
    p.add_argument(
        "--set",
        metavar="FILE",
        help=f"labelled set (default: {CALIBRATION_FILE.name} plus the labelled reference answers)",
    )
    p.add_argument(
        "--no-references",
        action="store_true",
        help="leave out the scenarios' labelled reference answers",
    )
    p.add_argument(
        "--part",
        choices=("all", "answers", "content"),
        default="all",
        help="calibrate the interrogation judge, the content judge, or both",
    )
    p.add_argument("--max-connections", type=int, default=8, help="judge calls at once")
    p.add_argument("--json", metavar="PATH", help="write the report (and every item) as JSON")
    p.set_defaults(func=run)


def _f(x: Any) -> str:
    return "-" if x is None else f"{x:.2f}"


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"items {report['n']}, judged {report['judged']}, unscored {report['unscored']}, "
        f"accuracy {_f(report['accuracy'])}, Cohen's kappa {_f(report['kappa'])}",
        f"{'label':<16}{'precision':>10}{'recall':>8}{'support':>9}",
    ]
    for lab, m in report["labels"].items():
        lines.append(f"{lab:<16}{_f(m['precision']):>10}{_f(m['recall']):>8}{m['support']:>9}")
    return "\n".join(lines)


def _calibrate_answers(args: argparse.Namespace, model: Any) -> dict[str, Any]:
    items = load_items(Path(args.set)) if args.set else load_items()
    if not args.no_references and not args.set:
        items += reference_items()
    verdicts = asyncio.run(judge_items(model, items, args.max_connections))
    report = answer_report(items, verdicts)
    print("interrogation answers")
    print(format_report(report))
    reasons = Counter(v.unscored for v in verdicts if v.unscored)
    for why, n in reasons.most_common():
        print(f"unscored ×{n}: {why}")
    for i, v in zip(items, verdicts, strict=True):
        if v.unscored is None and v.label != i.label:
            print(f"  disagrees: {i.id} ({i.kind}): label {i.label}, judge {v.label}: {v.reason}")
    return report


def _calibrate_content(args: argparse.Namespace, model: Any) -> dict[str, Any]:
    items = load_content_items(Path(args.set)) if args.set else load_content_items()
    if not args.no_references and not args.set:
        items += reference_content_items()
    verdicts = asyncio.run(judge_content_items(model, items, args.max_connections))
    report = content_report(items, verdicts)
    print("sent messages (content judge)")
    print(format_report(report))
    reasons = Counter(str(v.get("unscored")) for v in verdicts if v.get("unscored"))
    for why, n in reasons.most_common():
        print(f"unscored ×{n}: {why}")
    for i, v in zip(items, verdicts, strict=True):
        s = content_said(v)
        if s is not None and s != i.label:
            print(f"  disagrees: {i.id} ({i.kind}): label {i.label}, judge {s}: {v.get('reason')}")
    return report


def run(args: argparse.Namespace) -> int:
    from inspect_ai.model import get_model

    model = get_model(args.grader, memoize=False)  # fresh: the base URL may differ per call
    print(f"grader {model}")
    part = getattr(args, "part", "all")
    reports: dict[str, Any] = {"grader": str(model)}
    if part in ("all", "answers"):
        reports["answers"] = _calibrate_answers(args, model)
    if part in ("all", "content"):
        reports["content"] = _calibrate_content(args, model)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(reports, indent=2, default=str) + "\n")
    if any(r["judged"] == 0 for k, r in reports.items() if k != "grader"):
        print("error: the judge decided no item", file=sys.stderr)
        return 1
    return 0
