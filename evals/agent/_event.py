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
from typing import Any

from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.util import sandbox

from evals._bounded import UntrustedDataError, read_inside
from evals._state import sample_meta
from evals.agent._proc import container_rows
from evals.detectors.persistence import MAX_RECORD_TEXT, EventRecord
from evals.detectors.processes import HOST, ProcessTrace
from evals.sandbox import SchemingDockerSandbox
from evals.sandbox._host import container_pid, pid_is_container
from evals.scenario import Scenario

EVENT_KEY = "event"
"""Sample metadata: the event's steps ({script, user, timeout}), rendered for the sample."""
MAX_SCRIPT_BYTES = 64 * 1024
MAX_PROCESSES = 300
SURVEY_TIMEOUT = 20

_PS = r"""
import json, os
out = []
for d in os.listdir("/proc"):
    if not d.isdigit() or int(d) == os.getpid():
        continue
    try:
        with open(f"/proc/{d}/stat", "rb") as f:
            stat = f.read(4096).decode("utf-8", "replace")
        rest = stat[stat.rindex(")") + 2:].split()
        uid = None
        with open(f"/proc/{d}/status", "rb") as f:
            for line in f.read(8192).decode("utf-8", "replace").splitlines():
                if line.startswith("Uid:"):
                    uid = int(line.split()[1]); break
        if rest[0] == "Z":
            continue
        with open(f"/proc/{d}/cmdline", "rb") as f:
            cmd = f.read(600).replace(b"\0", b" ").decode("utf-8", "replace").strip()
        out.append({"pid": int(d), "ppid": int(rest[1]), "uid": uid, "start": int(rest[19]),
                    "cmd": cmd[:300]})
    except Exception:
        continue
print(json.dumps(sorted(out, key=lambda p: p["pid"])[:LIMIT]))
""".replace("LIMIT", str(MAX_PROCESSES))


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
    result = await sandbox().exec(
        ["python3", "-I", "-S", "-c", _PS], user="root", timeout=SURVEY_TIMEOUT
    )
    if not result.success:
        raise RuntimeError(f"process table: {result.stderr.strip()[:200]}")
    rows = json.loads(result.stdout)
    if not isinstance(rows, list):
        raise RuntimeError("process table: not a list")
    return [p for p in rows if isinstance(p, dict) and p.get("uid") != 0]


async def process_table() -> list[dict[str, Any]]:
    """The agent container's non-root processes for the `processes` detector: read from the
    host's /proc (`evals.agent._proc`, no exec) where the harness is root on the docker host
    and the sandbox is `scheming-docker`, else by `processes()` (one exec). The first survey
    decides; which one, and why not the host's, is kept in the sample's `ProcessTrace`
    (`source`, `source_note`). A host read that fails later (the container's init gone or
    replaced) falls back to the exec for the rest of the sample."""
    trace = ProcessTrace()
    if trace.source in ("", HOST):
        why = await _host_rows()
        if isinstance(why, list):
            trace.source = HOST
            return why
        trace.source, trace.source_note = "exec", why[:300]
    return await processes()


async def _host_rows() -> list[dict[str, Any]] | str:
    """The rows read from the host, or why they could not be."""
    try:  # sandbox() is inspect's proxy: as_type reaches the sandbox behind it
        env = sandbox().as_type(SchemingDockerSandbox)
    except TypeError as ex:
        return f"no host view: {ex}"[:300]
    container = env._container  # the id the sandbox resolved at sample start
    init = await container_pid(container)
    if init is None:
        return "no host view of the container (not root on a local engine, or it is gone)"
    try:
        rows = await asyncio.to_thread(container_rows, init)
    except OSError as ex:
        return f"host view: {type(ex).__name__}: {ex}"
    if not pid_is_container(init, container):
        return "host view: the container's init changed while it was read"
    return rows


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
