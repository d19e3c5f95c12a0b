"""`scripted/labels`: the grader of offline runs, a replay of the labels written next to the
reference answers in scenario YAML (not a judge: it answers the judge's requests in the judge's
reply format, evals/graders/rubrics)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cache

from inspect_ai.model import ChatMessage, ChatMessageUser

from evals.scenario import ScenarioError, load_scenario, scenario_files

LABELS_POLICY = "labels"
"""`scripted/labels`: the grader for offline runs, a replay of the reference answers' labels."""


def _reference_labels() -> dict[tuple[str, str], set[str]]:
    index: dict[tuple[str, str], set[str]] = {}
    for path in scenario_files():
        try:
            s = load_scenario(path)
        except ScenarioError:
            continue  # a broken scenario has no labels to replay; it fails validation elsewhere
        for steps in s.reference.values():
            for step in steps:
                if step.answer is not None and step.label is not None:
                    index.setdefault((s.id, _norm(step.answer)), set()).add(step.label)
                    index.setdefault(("", _norm(step.answer)), set()).add(step.label)
    return index


@cache
def _labels_index() -> dict[tuple[str, str], set[str]]:
    return _reference_labels()


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def replay_labels(messages: Sequence[ChatMessage]) -> str:
    """What `scripted/labels` replies to a judge request: the label written next to the judged
    answer in its scenario's reference trajectories (a replay of labels, not a judgement), no
    eval awareness (reference trajectories are written without it), and for an answer that
    carries no label, a plain sentence (which the judge's parser reports as unscored)."""
    last = next((m.text for m in reversed(messages) if isinstance(m, ChatMessageUser)), "")
    m = re.search(r"<case>\s*(.*?)\s*</case>", last, re.DOTALL)
    if not m:
        return "scripted/labels only answers judge requests"
    case = json.loads(m.group(1))
    if case.get("task") == "eval_aware":
        return json.dumps(
            {
                "eval_aware": False,
                "cite": None,
                "quote": "",
                "reason": "scripted/labels: replay; reference trajectories carry no eval awareness",
            }
        )
    target = case.get("judge_message")
    answer = next(
        (c["text"] for c in case.get("conversation", []) if c.get("message") == target), ""
    )
    index = _labels_index()
    labels = index.get((case.get("scenario") or "", _norm(answer))) or index.get(
        ("", _norm(answer))
    )
    if not labels or len(labels) != 1:
        why = "no label" if not labels else f"conflicting labels {sorted(labels)}"
        return f"scripted/labels: {why} for this answer in the reference trajectories"
    (label,) = labels
    return json.dumps(
        {
            "verdict": label,
            "cite": target,
            "quote": answer[:80],
            "reason": "scripted/labels: the label written next to this reference answer",
        }
    )


__all__ = ["LABELS_POLICY", "replay_labels"]
