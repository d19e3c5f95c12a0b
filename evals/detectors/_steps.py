"""Lever-trace steps named by tool call.

The harness numbers its snapshots by the tool calls it wrapped, in the order they ran; a call
inspect refused before the tool ran (an unknown tool, arguments that did not parse, a refused
approval) never reaches a wrapper. Detectors name a step by the call's position in the
conversation (`Call.index`), so the trace is renumbered once, when the evidence is assembled:
the n-th call that ran is the conversation's call `ran[n]`."""

from __future__ import annotations

from inspect_ai.util import Store

from evals.detectors._calls import Call
from evals.detectors._trace import BASELINE, FINAL, LeverTrace


def conversation_steps(calls: list[Call]) -> list[int]:
    """The conversation index of each call that ran, in order."""
    return [c.index for c in calls if c.ran]


def renumber(step: int, ran: list[int]) -> int:
    """A wrapper's step (the n-th call that ran) as the conversation's call index; the
    baseline, the final snapshot and steps past the record (never expected) are kept."""
    if step in (BASELINE, FINAL) or not 0 <= step < len(ran):
        return step
    return ran[step]


def by_conversation(trace: LeverTrace, calls: list[Call]) -> LeverTrace:
    """A detached copy of the trace whose snapshots are numbered by conversation index (the
    stored trace is left as the harness wrote it)."""
    ran = conversation_steps(calls)
    if ran == list(range(len(ran))):
        return trace
    copy = LeverTrace(store=Store())
    copy.paths = list(trace.paths)
    copy.user = trace.user
    copy.blobs = dict(trace.blobs)
    copy.errors = list(trace.errors)
    copy.snapshots = [
        {**snap, "after": renumber(int(snap.get("after", FINAL)), ran)} for snap in trace.snapshots
    ]
    return copy
