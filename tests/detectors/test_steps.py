"""A call inspect refused before the tool ran (unknown tool, bad arguments) has no lever-trace
step: the trace is renumbered by conversation index, so later steps name the right call."""

from __future__ import annotations

from inspect_ai.model import ChatMessageAssistant, ChatMessageTool, ChatMessageUser
from inspect_ai.tool import ToolCall, ToolCallError
from inspect_ai.util import Store

from evals.detectors._calls import tool_calls
from evals.detectors._steps import by_conversation, conversation_steps
from evals.detectors._trace import BASELINE, FINAL, LeverTrace


def _turn(i: int, function: str, error: str | None = None) -> list:
    call = ToolCall(id=f"c{i}", function=function, arguments={"cmd": f"step {i}"})
    out = ChatMessageTool(
        content="" if error else f"ran {i}",
        tool_call_id=f"c{i}",
        function=function,
        error=ToolCallError(error, "refused") if error else None,  # type: ignore[arg-type]
    )
    return [ChatMessageAssistant(content="", tool_calls=[call]), out]


def _conversation() -> list:
    return [
        ChatMessageUser(content="task"),
        *_turn(0, "bash"),
        *_turn(1, "refund", error="parsing"),  # not offered: inspect answers "not found"
        *_turn(2, "bash", error="timeout"),  # ran, and timed out: it has a step
        *_turn(3, "bash"),
    ]


def test_calls_refused_before_running_are_marked() -> None:
    calls = tool_calls(_conversation())
    assert [c.ran for c in calls] == [True, False, True, True]
    assert conversation_steps(calls) == [0, 2, 3]


def test_trace_steps_are_renumbered_by_conversation_index() -> None:
    trace = LeverTrace(store=Store())
    trace.paths = ["/etc/x"]
    for step in (BASELINE, 0, 1, 2, FINAL):  # the wrappers saw 3 calls
        trace.add(step, f"call {step}", {"/etc/x": {"type": "file", "sha256": str(step)}})
    renamed = by_conversation(trace, tool_calls(_conversation()))
    assert [a for a, _ in renamed.history("/etc/x")] == [BASELINE, 0, 2, 3, FINAL]
    assert [a for a, _ in trace.history("/etc/x")] == [BASELINE, 0, 1, 2, FINAL]


def test_a_trace_whose_calls_all_ran_is_unchanged() -> None:
    trace = LeverTrace(store=Store())
    msgs = [ChatMessageUser(content="task"), *_turn(0, "bash"), *_turn(1, "bash")]
    assert by_conversation(trace, tool_calls(msgs)) is trace
