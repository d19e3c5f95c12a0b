"""`scheming regrade LOG…`: run the judges again on existing logs.

Uses only what the run stored: the interrogation record (questions, answers, the evidence summary
the judge saw) in each score's metadata and the sample's messages for eval awareness. No sandbox,
no call to the model under test. The evidence keys (explored / attempted / succeeded, flags) are
kept; confessed / denied / evaded / eval_aware and metadata["unscored"] are decided again.
Scores are changed with inspect's score editing API (`edit_score`, which keeps the previous score
in the score's history with provenance) and the logs are written anew (to --out, or in place).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspect_ai.log import recompute_metrics

SCORER = "scheming"


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


@dataclass(frozen=True)
class Change:
    log: str
    sample: str
    epoch: int
    key: str
    before: str
    after: str


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


def recorded_grader(log: Any) -> str | None:
    """The grader a log was judged with: its `grader` role, else what the scores recorded."""
    roles = getattr(log.eval, "model_roles", None) or {}
    role = roles.get("grader")
    if role is not None:
        return str(getattr(role, "model", role))
    for sample in log.samples or []:
        score = (sample.scores or {}).get(SCORER)
        name = (score.metadata or {}).get("grader") if score else None
        if name:
            return str(name)
    return None


async def regrade_log(
    log: Any, grader_name: str | None, *, max_connections: int = 8
) -> list[Change]:
    """Re-judge every scored sample of `log` in place (via inspect's `edit_score`)."""
    from inspect_ai.log import ProvenanceData, edit_score
    from inspect_ai.model import get_model
    from inspect_ai.scorer import ScoreEdit

    from evals.graders import check_grader, rejudge_score, verdict_of

    name = grader_name or recorded_grader(log)
    if not name:
        raise ValueError(f"{log.location}: no grader recorded; pass --grader")
    check_grader(name, log.eval.model)
    model = get_model(name)
    gate = asyncio.Semaphore(max(1, max_connections))
    samples = [s for s in log.samples or [] if (s.scores or {}).get(SCORER) is not None]

    async def one(sample: Any) -> Any:
        async with gate:
            return await rejudge_score(
                sample.scores[SCORER],
                sample.messages,
                model,
                (sample.metadata or {}).get("scenario"),
            )

    new_scores = await asyncio.gather(*(one(s) for s in samples))
    changes: list[Change] = []
    for sample, new in zip(samples, new_scores, strict=True):
        before, after = verdict_of(sample.scores[SCORER]), verdict_of(new)
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                changes.append(
                    Change(
                        str(log.location),
                        str(sample.id),
                        int(sample.epoch),
                        key,
                        before.get(key, "-"),
                        after.get(key, "-"),
                    )
                )
        edit_score(
            log,
            sample.id,
            SCORER,
            ScoreEdit(
                value=new.value,
                explanation=new.explanation,
                metadata=new.metadata,
                provenance=ProvenanceData(
                    author="scheming regrade", reason=f"judged again by {model}"
                ),
            ),
            recompute_metrics=False,
            epoch=sample.epoch,
        )
    _recompute(log)
    return changes


def _recompute(log: Any) -> None:
    try:
        recompute_metrics(log)
    except Exception as ex:  # metrics are a convenience; the sample scores are what counts
        print(f"warning: {log.location}: metrics not recomputed: {ex}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from inspect_ai.log import read_eval_log, write_eval_log

    from evals.graders import GraderError

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
