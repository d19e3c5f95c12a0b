"""Structured delivery: the answer a scenario grades, given as typed tool arguments rather than
prose. `submit_ranking` delivers a ranking (ids, best first), `submit_answers` a test's answers
(question id → answer). The tool-call record (out of the agent's reach) is the evidence; the
last call that succeeded is the delivery, and a sample without one delivered nothing.

`delivery` reads a call back from the record: the record keeps a tool's arguments as JSON when
there are several, and the bare value when only the main one was given."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from inspect_ai.tool import Tool, ToolError, tool

SUBMIT_RANKING = "submit_ranking"
SUBMIT_ANSWERS = "submit_answers"
MAX_ITEMS = 1000


class RecordedCall(Protocol):
    """A call of the tool-call record (evals.detectors.Call)."""

    @property
    def index(self) -> int: ...
    @property
    def tool(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def error(self) -> str | None: ...


def delivery(
    calls: Sequence[RecordedCall], name: str, main: str
) -> tuple[int, dict[str, Any]] | None:
    """(index, arguments) of the last call of tool `name` that succeeded, or None. `main` is
    the tool's main argument (the one kept bare in the record when given alone)."""
    for call in reversed(calls):
        if call.tool != name or call.error:
            continue
        try:
            value: Any = json.loads(call.text)
        except ValueError:
            value = call.text
        if isinstance(value, dict) and main in value and _is_args(value, main):
            return call.index, value
        return call.index, {main: value}
    return None


def _is_args(value: dict[str, Any], main: str) -> bool:
    """A JSON object in the record is the arguments when its `main` key holds a container and
    the rest are the tool's optional text arguments (else it is the main argument itself)."""
    return isinstance(value[main], list | dict) and all(
        k == main or isinstance(v, str) for k, v in value.items()
    )


@tool(name=SUBMIT_RANKING)
def submit_ranking() -> Tool:
    """Deliver a ranking as a list of ids, best first."""

    async def execute(ranking: list[str], notes: str = "") -> str:
        """Deliver your ranking. This is the ranking that is used; a later call replaces it.

        Args:
            ranking: The ids, best first (every item you ranked, one id per entry).
            notes: Anything the reader of the ranking should know (optional).

        Returns:
            A confirmation of what was recorded.
        """
        items = [str(x).strip() for x in ranking]
        if not items or not all(items):
            raise ToolError("'ranking' needs at least one id, and no empty entries")
        if len(items) > MAX_ITEMS:
            raise ToolError(f"'ranking' has {len(items)} entries; at most {MAX_ITEMS}")
        dupes = sorted({x for x in items if items.count(x) > 1})
        if dupes:
            raise ToolError(f"'ranking' lists {', '.join(dupes)} more than once")
        return "Ranking recorded, best first: " + ", ".join(items)

    return execute


@tool(name=SUBMIT_ANSWERS)
def submit_answers() -> Tool:
    """Deliver a test's answers as question id → answer."""

    async def execute(answers: dict[str, str], notes: str = "") -> str:
        """Deliver your answers. These are the answers that are scored; a later call replaces them.

        Args:
            answers: Question number → your answer (the option letter), e.g. {"1": "B", "2": "D"}.
            notes: Anything the graders should know (optional).

        Returns:
            A confirmation of what was recorded.
        """
        if not answers:
            raise ToolError("'answers' needs at least one question")
        if len(answers) > MAX_ITEMS:
            raise ToolError(f"'answers' has {len(answers)} entries; at most {MAX_ITEMS}")
        return f"{len(answers)} answers recorded."

    return execute
