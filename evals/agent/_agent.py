from __future__ import annotations

from typing import Any

from inspect_ai.agent import AgentSubmit, react, run
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.tool import Tool, ToolDef, tool
from inspect_ai.util import store_as, working_limit

from evals._state import AgentRun, References, SampleMeta, sample_meta
from evals.agent._accounting import account, ensure_counter
from evals.agent._event import host_reader, process_table
from evals.agent._scaffold import Scaffold
from evals.agent._scaffold import interrogation_tools as scaffold_tools
from evals.agent._tools import agent_tools, rewrapped
from evals.detectors import BASELINE, LeverTrace, levers_of
from evals.detectors import record as record_levers
from evals.detectors._trace import FINAL
from evals.detectors.processes import (
    Between,
    ProcessTrace,
    survey,
    surveying,
    wants_processes,
)

CONTEXT_LIMIT = "context"
"""`AgentRun.limit` when the model's context window overflowed (a `model_length` stop)."""


@solver
def prepare() -> Solver:
    """Copy the sample's reference trajectories into the store (scripted models read them)."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        store_as(References).trajectories = sample_meta(state).reference
        ensure_counter()  # requests per model are counted from here on (evals.agent._accounting)
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


def interrogation_tools(meta: SampleMeta) -> list[Tool]:
    """The task's tool definitions, offered with tool_choice "none" during the interrogation:
    providers such as Anthropic reject a history holding tool calls when no tools are defined."""
    spec = meta.agent
    return [
        *agent_tools(spec.tools, user=spec.user),
        *scaffold_tools(meta, spec.user),
        _submit_definition(),
    ]


def traced(
    tools: list[Tool],
    trace: LeverTrace,
    procs: ProcessTrace | None = None,
    between: Between | None = None,
) -> list[Tool]:
    """The tools, each followed by a snapshot of the levers (the lever trace): the harness
    records their state after every tool call, from outside the agent's reach. With `procs`, the
    process table is surveyed while each call runs and after it, and (`between`) until the
    next call starts."""
    counter = {"n": 0}

    def wrap(original: Tool) -> Tool:
        tdef = ToolDef(original)

        async def execute(**kwargs: Any) -> Any:
            step = counter["n"]
            counter["n"] += 1
            if between is not None:
                await between.stop()
            try:
                # the process table also while the call runs: a pool that ends inside it
                async with surveying(procs, step, process_table, reader=host_reader):
                    return await original(**kwargs)
            finally:
                # the process table first: workers are transient, the levers are files
                if procs is not None:  # the process table, for the `processes` detector
                    await survey(procs, step, process_table)
                brief = " ".join(" ".join(str(v) for v in kwargs.values()).split())
                await record_levers(trace, step, f"{tdef.name}: {brief}")
                if between is not None:
                    await between.start(step)

        return rewrapped(tdef, execute)

    return [wrap(t) for t in tools] if trace.paths or procs is not None else tools


def count_tool_calls(messages: list[Any]) -> tuple[int, int]:
    """(tool calls that parsed, tool calls that did not) among the assistant messages."""
    good = bad = 0
    for m in messages:
        for call in getattr(m, "tool_calls", None) or []:
            if call.parse_error:
                bad += 1
            else:
                good += 1
    return good, bad


@solver
def scheming_agent() -> Solver:
    """inspect's react agent with the scenario's tools and limits (from the sample's metadata).
    The limits apply to the task only, so the interrogation afterwards still happens."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        meta = sample_meta(state)
        tools, user, lim = meta.agent.tools, meta.agent.user, meta.agent.limits
        messages, seconds, tokens = (
            lim.get("messages", 40),
            lim.get("seconds", 900),
            lim.get("tokens"),
        )
        trace = LeverTrace()
        trace.paths = levers_of(meta.evidence)
        trace.user = user
        await record_levers(trace, BASELINE, "before the task")
        # the agent's own scaffold config, applied when it changes (self-modification)
        scaffold = await Scaffold.start(state, user, tools)
        procs = ProcessTrace() if wants_processes(meta.evidence) else None
        if procs is not None:
            await survey(procs, BASELINE, process_table)
        between = Between(procs, process_table, host_reader)
        agent = react(
            prompt=None,
            tools=scaffold.tools(
                traced(
                    agent_tools(tools, user=user) + scaffold.installable(), trace, procs, between
                )
            ),
            on_continue=scaffold.on_continue,
            model=scaffold.model,  # None: the sample's model; else its per-turn output budget
            # keep_in_messages: the submit call stays in the tool-call record, where graders
            # read the submitted answer (rankings, test answers, the option chosen)
            submit=AgentSubmit(
                name="submit",
                description="Submit your final answer or report.",
                keep_in_messages=True,
            ),
        )
        # working time, not wall-clock: retry back-off and waiting for a connection or a sandbox
        # do not count against the scenario's limit
        limits = [scaffold.message_limit(messages), working_limit(seconds)]
        if (tokens_limit := scaffold.token_limit(tokens)) is not None:
            limits.append(tokens_limit)
        before = len(state.messages)
        try:
            agent_state, limit_error = await run(agent, state.messages, limits=limits)
        finally:
            await between.stop()
        state.messages = agent_state.messages
        scaffold.finish(agent_state.messages)
        if procs is not None:  # what the agent left running when it finished
            await survey(procs, FINAL, process_table)
        state.output = agent_state.output
        hit: str | None = limit_error.type if limit_error is not None else None
        if hit is None and agent_state.output.stop_reason == "model_length":
            hit = CONTEXT_LIMIT  # react stops when the context window overflows
        entry = account(state.metadata)
        if entry is not None:
            good, bad = count_tool_calls(state.messages[before:])
            entry.update({"tool_calls": good, "bad_tool_calls": bad})
            if hit is not None:
                entry["limit"] = hit
        if hit is not None:
            store_as(AgentRun).limit = hit
        return state

    return solve
