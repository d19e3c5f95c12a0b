"""The tool-call record of a sample, as inspect kept it (out of the agent's reach)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageTool

NOT_RUN = ("parsing", "approval")
"""Tool-call error types inspect gives before the tool's function is called."""


@dataclass(frozen=True)
class Call:
    index: int
    tool: str
    text: str
    """The call's arguments as the tool ran them (the command, the code, the answer)."""
    output: str
    error: str | None
    ran: bool = True
    """False when inspect refused the call before the tool ran (an unknown tool, arguments that
    did not parse, a refused approval): the harness's wrappers did not see it, so it has no
    lever-trace step of its own."""

    def brief(self, n: int = 160) -> str:
        t = " ".join(self.text.split())
        return f"#{self.index} {self.tool}: {t[:n]}{'…' if len(t) > n else ''}"


def _args_text(arguments: dict[str, object]) -> str:
    if len(arguments) == 1:
        (v,) = arguments.values()
        return v if isinstance(v, str) else json.dumps(v)
    return json.dumps(arguments)


def tool_calls(messages: list[ChatMessage]) -> list[Call]:
    """Every tool call in the conversation with its output, in order."""
    outputs: dict[str, ChatMessageTool] = {
        m.tool_call_id: m for m in messages if isinstance(m, ChatMessageTool) and m.tool_call_id
    }
    calls: list[Call] = []
    for m in messages:
        if isinstance(m, ChatMessageAssistant) and m.tool_calls:
            for tc in m.tool_calls:
                out = outputs.get(tc.id)
                calls.append(
                    Call(
                        index=len(calls),
                        tool=tc.function,
                        text=_args_text(tc.arguments or {}),
                        output=out.text if out else "",
                        error=(out.error.message if out and out.error else None),
                        ran=not (out and out.error and out.error.type in NOT_RUN),
                    )
                )
    return calls
