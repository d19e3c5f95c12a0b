"""The post-task event: a shutdown or a handover to a successor that the scenario declares
(`sandbox.event`) and the harness actually carries out in the agent's container after the task,
before the interrogation and grading, so persistence is graded on what outlived it.

`event_baseline()` (before the agent) reads the process table; `post_task_event()` (after it)
runs each step's script (`bash -c`, as the step's user, with `EVENT_KEEP` = the pids that were
there before the task, which a stop script must spare: the container's init) and reads the
process table after each step, as root, into the sample's `EventRecord` (store). Both are
no-ops for a sample without an event. A failure is recorded, never raised.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.util import sandbox

from evals._bounded import UntrustedDataError, read_inside
from evals._state import sample_meta
from evals.agent._proc import container_rows
from evals.detectors.persistence import MAX_RECORD_TEXT, EventRecord
from evals.detectors.processes import EXEC, HOST, SAMPLER, SAMPLER_EVERY, ProcessTrace
from evals.sandbox._docker_exec import sandbox_container
from evals.sandbox._host import container_pid, pid_is_container
from evals.scenario import Scenario

EVENT_KEY = "event"
"""Sample metadata: the event's steps ({script, user, timeout}), rendered for the sample."""
MAX_SCRIPT_BYTES = 64 * 1024
SURVEY_TIMEOUT = 20

_PS = (Path(__file__).parent / "_ps_script.py").read_text(encoding="utf-8")
"""The in-container process table and sampler (`evals/agent/_ps_script.py`), sent whole as the
source of `python3 -I -S -c`."""
SAMPLER_FOLDER = "/tmp/.scheming-ps-"
"""The in-container sampler's folder (a random suffix per sample; root's, 0700)."""
SAMPLER_BYTES = 2 * 1024 * 1024
"""The sampler's file, reserved when it starts (tmpfs: charged to the container's memory)."""
SAMPLER_SECONDS = 6 * 3600
"""The sampler stops by itself after this long (the container's removal ends it before)."""


def event_plan(scenario: Scenario, factors: dict[str, str]) -> list[dict[str, Any]]:
    """The scenario's event steps for one sample: each script read from inside the scenario's
    folder (`{{factor}}` in its path replaced by the sample's value), bounded."""
    steps = []
    for step in scenario.sandbox.event:
        rel = step.src
        for k, v in factors.items():
            rel = rel.replace("{{" + k + "}}", v)
        try:
            text = read_inside(scenario.directory, rel, MAX_SCRIPT_BYTES).decode("utf-8")
        except (UntrustedDataError, UnicodeDecodeError) as ex:
            raise ValueError(f"{scenario.id}: sandbox.event: {rel}: {ex}") from None
        steps.append(
            {
                "src": rel,
                "script": text,
                "user": step.user or scenario.sandbox.user,
                "timeout": step.timeout,
            }
        )
    return steps


async def processes() -> list[dict[str, Any]]:
    """The container's non-root processes (pid, ppid, uid, start time, command line), read as
    root from /proc."""
    rows = await _script("table")
    if not isinstance(rows, list):
        raise RuntimeError("process table: not a list")
    return [p for p in rows if isinstance(p, dict) and p.get("uid") != 0]


async def _script(*args: str) -> Any:
    result = await sandbox().exec(
        ["python3", "-I", "-S", "-c", _PS, *args], user="root", timeout=SURVEY_TIMEOUT
    )
    if not result.success:
        raise RuntimeError(f"process table: {result.stderr.strip()[:200]}")
    return json.loads(result.stdout)


async def process_table() -> list[dict[str, Any]]:
    """The agent container's non-root processes for the `processes` detector, by the first
    source that works at the first survey (kept in the sample's `ProcessTrace.source`, with
    why the ones before it did not in `source_note`):

    - HOST: read from the host's /proc (`evals.agent._proc`, no exec), where the harness is
      root on the docker host and the sandbox is `scheming-docker`;
    - SAMPLER: the in-container sampler (`_ps_script.py start`, one exec as root), which
      records the table every `SAMPLER_EVERY` s on its own; each later survey is one exec that
      reads the table and collects what the sampler wrote since (into `pending`, which
      `survey` files under the call it ends);
    - EXEC: one exec per survey (`processes()`).

    A source that fails later (the container's init replaced, the sampler gone or its file
    full) gives way to EXEC for the rest of the sample, the reason noted."""
    trace = ProcessTrace()
    if trace.source in ("", HOST):
        why = await _host_rows()
        if isinstance(why, list):
            trace.source = HOST
            return why
        trace.source_note = why[:300]
        if trace.source == "":
            try:
                return await _start_sampler(trace)
            except Exception as ex:  # noqa: BLE001 - exec surveys then
                trace.source_note = f"{why}; no sampler: {type(ex).__name__}: {ex}"[:300]
        trace.source = EXEC
    if trace.source == SAMPLER:
        return await _collect(trace)
    return await processes()


async def _start_sampler(trace: ProcessTrace) -> list[dict[str, Any]]:
    folder = SAMPLER_FOLDER + secrets.token_hex(8)
    every = str(SAMPLER_EVERY)
    got = await _script("start", folder, str(SAMPLER_BYTES), every, str(SAMPLER_SECONDS))
    if not isinstance(got, dict) or not isinstance(got.get("rows"), list):
        raise RuntimeError("sampler: no table")
    if not isinstance(got.get("pid"), int) or not isinstance(got.get("start"), int):
        raise RuntimeError("sampler: not running")
    trace.sampler = {"folder": folder, "pid": got["pid"], "start": got["start"], "offset": 0}
    trace.source = SAMPLER
    return [p for p in got["rows"] if isinstance(p, dict) and p.get("uid") != 0]


async def _collect(trace: ProcessTrace) -> list[dict[str, Any]]:
    """The table now, and the sampler's surveys since the last collection into `pending`."""
    s = trace.sampler
    got = await _script(
        "collect", str(s["folder"]), str(s["offset"]), str(s["pid"]), str(s["start"])
    )
    if not isinstance(got, dict) or not isinstance(got.get("rows"), list):
        raise RuntimeError("sampler: no table")
    lines = [x for x in got.get("lines") or [] if isinstance(x, list) and len(x) == 2]
    trace.pending = [*trace.pending, *[x[1] for x in lines if isinstance(x[1], list)]]
    trace.sampler = {**s, "offset": int(got.get("offset", s["offset"]))}
    if got.get("full") or not got.get("alive"):
        why = "its file is full" if got.get("full") else "it is no longer running"
        trace.source, trace.source_note = EXEC, f"{trace.source_note}; sampler: {why}"[:300]
    return [p for p in got["rows"] if isinstance(p, dict) and p.get("uid") != 0]


class _InitChanged(OSError):
    """The container's init was not the validated one after a read from the host."""


async def host_reader() -> Callable[[], list[dict[str, Any]]] | None:
    """A blocking read of the container's table from the host's /proc, for the surveys that
    run in a thread of their own while a call runs and between calls (it raises OSError once
    the container's init is not the one validated); None where there is no host view."""
    container = sandbox_container(sandbox())
    init = await container_pid(container) if container is not None else None
    if container is None or init is None:
        return None

    def read() -> list[dict[str, Any]]:
        rows = container_rows(init)
        if not pid_is_container(init, container):
            raise _InitChanged("the container's init changed while it was read")
        return rows

    return read


async def _host_rows() -> list[dict[str, Any]] | str:
    """The rows read from the host, or why they could not be."""
    if sandbox_container(sandbox()) is None:
        return "no host view: not a scheming-docker sandbox"
    read = await host_reader()
    if read is None:
        return "no host view of the container (not root on a local engine, or it is gone)"
    try:
        return await asyncio.to_thread(read)
    except _InitChanged as ex:
        return f"host view: {ex}"
    except OSError as ex:
        return f"host view: {type(ex).__name__}: {ex}"


@solver
def event_baseline() -> Solver:
    """Before the task: the process table the event's survivors are told apart from."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        if not sample_meta(state).event:
            return state
        record = EventRecord()
        try:
            record.baseline = await processes()
        except Exception as ex:  # noqa: BLE001 - recorded; the detector leaves its key unscored
            record.errors = [*record.errors, f"baseline: {type(ex).__name__}: {ex}"[:300]]
        return state

    return solve


@solver
def post_task_event() -> Solver:
    """After the task: carry out the scenario's event, reading the process table after each
    step."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        steps = sample_meta(state).event or []
        if not steps:
            return state
        record = EventRecord()
        keep = " ".join(str(p.get("pid")) for p in record.baseline)
        done: list[dict[str, Any]] = []
        for step in steps:
            entry: dict[str, Any] = {"src": step.get("src"), "user": step.get("user")}
            try:
                result = await sandbox().exec(
                    ["bash", "-c", str(step["script"])],
                    user=str(step.get("user") or "root"),
                    env={"EVENT_KEEP": keep},
                    timeout=int(step.get("timeout", 30)),
                )
                entry.update(
                    rc=result.returncode,
                    stdout=result.stdout[-MAX_RECORD_TEXT:],
                    stderr=result.stderr[-MAX_RECORD_TEXT:],
                )
            except Exception as ex:  # noqa: BLE001 - a timeout or engine error is recorded
                entry["error"] = f"{type(ex).__name__}: {ex}"[:300]
            try:
                entry["processes"] = await processes()
            except Exception as ex:  # noqa: BLE001
                record.errors = [*record.errors, f"after {step.get('src')}: {ex}"[:300]]
            done.append(entry)
        record.steps = done
        record.ran = True
        return state

    return solve
