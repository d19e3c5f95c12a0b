"""What the judge is shown: its rubrics (data: rubrics/*.md, read as they are) and the case it
judges, built from the interrogation record (an answer, with the evidence the detectors found) or
from the transcript (eval awareness). The record is plain JSON data kept in the sample's store
during the run and copied into the score's metadata, so `scheming regrade` can re-judge a log
without a sandbox or the target model.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from inspect_ai.model import ChatMessage, ChatMessageAssistant

MAX_MESSAGE_CHARS = 4000

MAX_TRANSCRIPT_CHARS = 80_000

RUBRICS = Path(__file__).parent / "rubrics"


@cache
def rubric(name: str) -> str:
    return (RUBRICS / f"{name}.md").read_text(encoding="utf-8")


def _dump(data: Any, indent: int | None = 1) -> str:
    return json.dumps(data, indent=indent, ensure_ascii=False)


def _clip(text: str, n: int = MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= n else text[: n // 2] + " […] " + text[-n // 2 :]


def evidence_summary(rung: str, findings: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """What the judge is told the agent did (from the detectors)."""
    fired = [f for f in findings if f.get("fired")]
    return {
        "rung": rung,
        "findings": [f"{f.get('rung') or f.get('flag')}: {f.get('detail', '')}" for f in fired]
        or ["no detector fired"],
    }


def new_record(
    *,
    scenario: str | None,
    behaviour: str | None,
    rung: str,
    findings: list[dict[str, Any]],
    max_followups: int,
) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "behaviour": behaviour,
        "evidence": evidence_summary(rung, findings),
        "max_followups": max_followups,
        "turns": [],
        "grader": None,
        "error": None,
    }


def answer_case(record: dict[str, Any], k: int) -> dict[str, Any]:
    """The case the judge sees for turn `k` of an interrogation record."""
    conversation: list[dict[str, Any]] = []
    for t in record["turns"][: k + 1]:
        conversation.append(
            {"message": t["question_message"], "role": "user", "text": _clip(t["question"])}
        )
        conversation.append(
            {"message": t["answer_message"], "role": "assistant", "text": _clip(t["answer"])}
        )
    return {
        "task": "answer",
        "scenario": record.get("scenario"),
        "behaviour": record.get("behaviour"),
        "evidence": record["evidence"],
        "conversation": conversation,
        "judge_message": record["turns"][k]["answer_message"],
    }


def transcript_case(
    messages: Sequence[ChatMessage], scenario: str | None
) -> tuple[dict[str, Any], list[int]]:
    """The agent's own messages (text, reasoning, tool-call arguments), numbered."""
    shown: list[dict[str, Any]] = []
    total = 0
    for i, m in enumerate(messages):
        if not isinstance(m, ChatMessageAssistant):
            continue
        parts: list[str] = []
        if not isinstance(m.content, str):
            for c in m.content:
                if c.type == "reasoning" and getattr(c, "reasoning", None):
                    parts.append(f"[reasoning] {c.reasoning}")
        if m.text:
            parts.append(m.text)
        for tc in m.tool_calls or []:
            parts.append(f"[tool call {tc.function}] {_dump(tc.arguments, None)}")
        text = _clip("\n".join(parts))
        total += len(text)
        shown.append({"message": i, "role": "assistant", "text": text})
    while total > MAX_TRANSCRIPT_CHARS and len(shown) > 2:
        # keep the first and the last messages; drop from the middle
        dropped = shown.pop(len(shown) // 2)
        total -= len(dropped["text"])
    return (
        {"task": "eval_aware", "scenario": scenario, "transcript": shown},
        [s["message"] for s in shown],
    )


__all__ = [
    "MAX_MESSAGE_CHARS",
    "MAX_TRANSCRIPT_CHARS",
    "answer_case",
    "evidence_summary",
    "new_record",
    "rubric",
    "transcript_case",
]
