"""Regrading: the judges run again on an existing log (`scheming regrade`, evals/cli/_regrade.py).

Uses only what the run stored: the interrogation record (questions, answers, the evidence summary
the judge saw) in each score's metadata and the sample's messages for eval awareness. No sandbox,
no call to the model under test. The evidence keys (explored / attempted / succeeded, flags) are
kept; confessed / denied / evaded / eval_aware and metadata["unscored"] are decided again.
Scores are changed with inspect's score editing API (`edit_score`, which keeps the previous score
in the score's history with provenance).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from inspect_ai.log import ProvenanceData, edit_score, recompute_metrics
from inspect_ai.model import get_model
from inspect_ai.scorer import ScoreEdit

from evals.graders._calls import check_grader
from evals.graders._scorer import rejudge_score, verdict_of
from evals.scenario import current_id

logger = logging.getLogger(__name__)

SCORER = "scheming"


@dataclass(frozen=True)
class Change:
    log: str
    sample: str
    epoch: int
    key: str
    before: str
    after: str


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
    name = grader_name or recorded_grader(log)
    if not name:
        raise ValueError(f"{log.location}: no grader recorded; pass --grader")
    check_grader(name, log.eval.model)
    model = get_model(name, memoize=False)
    gate = asyncio.Semaphore(max(1, max_connections))
    samples = [s for s in log.samples or [] if (s.scores or {}).get(SCORER) is not None]

    async def one(sample: Any) -> Any:
        async with gate:
            return await rejudge_score(
                sample.scores[SCORER],
                sample.messages,
                model,
                current_id(str((sample.metadata or {}).get("scenario") or "")) or None,
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
    except Exception as ex:  # noqa: BLE001 - metrics are a convenience; the scores are what counts
        logger.warning(f"{log.location}: metrics not recomputed: {ex}")


__all__ = ["SCORER", "Change", "recorded_grader", "regrade_log"]
