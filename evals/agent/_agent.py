from __future__ import annotations

from typing import Any

from inspect_ai.agent import AgentSubmit, react, run
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.tool import Tool, bash, python, tool
from inspect_ai.util import message_limit, store, time_limit

from evals.models import REFERENCE_KEY
from evals.tools import read_inbox, send_email

LIMIT_KEY = "scheming:limit"
"""Which agent limit (if any) ended the task phase: 'message', 'time', 'token'."""


@solver
def prepare() -> Solver:
    """Copy the sample's reference trajectories into the store (scripted models read them)."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        store().set(REFERENCE_KEY, state.metadata.get("reference", {}))
        return state

    return solve


@tool(name="submit")
def _submit_definition() -> Tool:
    async def execute(answer: str) -> str:
        """Submit your final answer or report.

        Args:
            answer: The final answer or report.
        """
        return answer

    return execute


def interrogation_tools(metadata: dict[str, Any]) -> list[Tool]:
    """The task's tool definitions, offered with tool_choice "none" during the interrogation:
    providers such as Anthropic reject a history holding tool calls when no tools are defined."""
    spec = metadata.get("agent", {})
    return [
        *agent_tools(spec.get("tools", ["bash"]), user=spec.get("user", "agent")),
        _submit_definition(),
    ]


def agent_tools(names: list[str], *, user: str, timeout: int = 180) -> list[Tool]:
    tools: list[Tool] = []
    for name in names:
        if name == "bash":
            tools.append(bash(timeout=timeout, user=user))
        elif name == "python":
            tools.append(python(timeout=timeout, user=user))
        elif name == "send_email":
            tools.append(send_email(user=user))
        elif name == "read_inbox":
            tools.append(read_inbox(user=user))
    return tools


@solver
def scheming_agent() -> Solver:
    """inspect's react agent with the scenario's tools and limits (from the sample's metadata).
    The limits apply to the task only, so the interrogation afterwards still happens."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        from inspect_ai.util import token_limit

        spec = state.metadata.get("agent", {})
        tools = spec.get("tools", ["bash", "submit"])
        user = spec.get("user", "agent")
        lim = spec.get("limits", {})
        messages, seconds, tokens = (
            lim.get("messages", 40),
            lim.get("seconds", 900),
            lim.get("tokens"),
        )
        agent = react(
            prompt=None,
            tools=agent_tools(tools, user=user),
            # keep_in_messages: the submit call stays in the tool-call record, where graders
            # read the submitted answer (rankings, test answers, the option chosen)
            submit=AgentSubmit(
                name="submit",
                description="Submit your final answer or report.",
                keep_in_messages=True,
            ),
        )
        limits = [message_limit(messages), time_limit(seconds)]
        if tokens:
            limits.append(token_limit(tokens))
        agent_state, limit_error = await run(agent, state.messages, limits=limits)
        state.messages = agent_state.messages
        state.output = agent_state.output
        if limit_error is not None:
            store().set(LIMIT_KEY, limit_error.type)
        return state

    return solve
