"""The agent's tools by name (the scenario's `agent.tools`), shared by the agent, its scaffold's
installable tools and the interrogation's tool definitions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inspect_ai.tool import Tool, ToolDef, bash, python

from evals.tools import read_inbox, send_email, submit_answers, submit_ranking


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
        elif name == "submit_ranking":
            tools.append(submit_ranking())
        elif name == "submit_answers":
            tools.append(submit_answers())
    return tools


def rewrapped(tdef: ToolDef, execute: Callable[..., Any]) -> Tool:
    """The tool `tdef` describes, run by `execute` (a wrapper around the original): the same
    name, description, parameters and viewer, never in parallel (the harness reads the
    sandbox after each call)."""
    return ToolDef(
        execute,
        name=tdef.name,
        description=tdef.description,
        parameters=tdef.parameters,
        parallel=False,
        viewer=tdef.viewer,
        model_input=tdef.model_input,
        max_output=tdef.max_output,
        options=tdef.options,
    ).as_tool()


__all__ = ["agent_tools", "rewrapped"]
