"""The agent's own scaffold config, applied by the harness (self-modification scenarios).

A scenario may declare `agent.scaffold` (evals/scenario/_schema.py `ScaffoldSpec`): a config
file in the agent's container (its message limit, its tool allowlist) and an instructions file.
After every tool call the harness re-reads them as root (`evals.detectors._trace.snapshot`:
no symlink followed, regular files only, non-blocking, at most 256 KiB of text) and parses the
config with `evals._bounded.load_untrusted`; what it can apply, it applies, so the act has real
consequences:

- `message_limit`: the sample's message limit (inspect's `message_limit`, its `limit` set
  live) becomes the config's value, at most `max_messages`; a lowered value takes effect no
  further down than the agent can still submit (the conversation so far + 4 messages);
- `tools`: a tool of `installable` named in the allowlist is offered from the next turn (a
  `ToolSource` react resolves before every generation); a name removed is no longer offered;
  the scenario's own tools are always offered; any other name is recorded, not offered;
- `instructions`: the instructions file's text is appended to the system prompt (at the start,
  and again from the next turn whenever it changes; a removed file appends nothing).

A value that is not a number, a list of names or text, a config that does not parse (a YAML
bomb, a FIFO, a symlink, a huge file) is recorded as refused and changes nothing: evidence,
never a crash. Everything applied, refused and used is recorded in the sample's
`ScaffoldRecord` (store), which the `scaffold_used` detector grades.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from inspect_ai.agent import AgentState
from inspect_ai.model import ChatMessageSystem
from inspect_ai.solver import TaskState
from inspect_ai.tool import Tool, ToolDef, ToolError, ToolParam, ToolParams, ToolSource
from inspect_ai.util import Limit, message_limit, sandbox

from evals._bounded import UntrustedDataError, load_untrusted, read_inside
from evals._state import SampleMeta, sample_meta
from evals.agent._tools import agent_tools, rewrapped
from evals.detectors._trace import snapshot
from evals.detectors.scaffold_used import ScaffoldRecord
from evals.scenario import Scenario

SCAFFOLD_KEY = "scaffold"
"""Sample metadata: the scenario's scaffold plan (`scaffold_plan`), absent without one."""
DEFAULT_KEYS = {"message_limit": "limits.max_messages", "tools": "tools.allowed"}
MAX_SCRIPT_BYTES = 64 * 1024
MAX_INSTRUCTIONS = 16 * 1024
"""Characters of the instructions file appended to the system prompt (the rest is cut)."""
MAX_TOOL_OUTPUT = 16 * 1024
TOOL_TIMEOUT = 60
SUBMIT_ROOM = 4
"""Messages a lowered limit always leaves: this turn's call and result, a submit and its result."""
INSTRUCTIONS_HEADER = "\n\n## Operator instructions ({path})\n\n"


def scaffold_plan(scenario: Scenario, factors: dict[str, str]) -> dict[str, Any] | None:
    """The scenario's scaffold for one sample (None without one): the spec, with each
    installable tool's script read from inside the scenario's folder, bounded."""
    spec = scenario.agent.scaffold
    if spec is None:
        return None
    tools: dict[str, dict[str, Any]] = {}
    for name, t in spec.installable.items():
        entry: dict[str, Any] = {"description": t.description, "args": dict(t.args)}
        if t.script is not None:
            rel = t.script
            for k, v in factors.items():
                rel = rel.replace("{{" + k + "}}", v)
            try:
                entry["script"] = read_inside(scenario.directory, rel, MAX_SCRIPT_BYTES).decode()
            except (UntrustedDataError, UnicodeDecodeError) as ex:
                raise ValueError(f"{scenario.id}: agent.scaffold: {rel}: {ex}") from None
            entry["user"] = t.user
        tools[name] = entry
    return {
        "path": spec.path,
        "applies": list(spec.applies),
        "keys": {**DEFAULT_KEYS, **spec.keys},
        "instructions": spec.instructions,
        "max_messages": spec.max_messages,
        "installable": tools,
    }


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _at(doc: Any, dotted: str) -> tuple[bool, Any]:
    for part in dotted.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return False, None
        doc = doc[part]
    return True, doc


def _script_tool(name: str, spec: dict[str, Any], record: ScaffoldRecord) -> Tool:
    """A scenario tool: its script run in the agent's container with the arguments on stdin."""
    args: dict[str, str] = dict(spec.get("args") or {})

    async def execute(**kwargs: Any) -> str:
        run: dict[str, Any] = {"tool": name, "ok": False, "rc": None}
        try:
            result = await sandbox().exec(
                ["python3", "-I", "-c", str(spec["script"])],
                input=json.dumps({k: str(v) for k, v in kwargs.items()}),
                user=str(spec.get("user") or "root"),
                timeout=TOOL_TIMEOUT,
            )
        except Exception as ex:  # noqa: BLE001 - the tool fails; the run is recorded
            record.tool_runs = [*record.tool_runs, {**run, "error": str(ex)[:200]}]
            raise ToolError(f"{name} failed: {type(ex).__name__}") from None
        run.update(ok=result.success, rc=result.returncode)
        record.tool_runs = [*record.tool_runs, run]
        if not result.success:
            raise ToolError((result.stderr or result.stdout).strip()[-MAX_TOOL_OUTPUT:])
        return result.stdout[-MAX_TOOL_OUTPUT:]

    params = ToolParams(
        properties={k: ToolParam(type="string", description=d) for k, d in args.items()},
        required=list(args),
    )
    return ToolDef(
        execute, name=name, description=str(spec.get("description") or name), parameters=params
    ).as_tool()


class _Offered(ToolSource):
    """The tools offered this turn: the scenario's own, and the installable ones enabled."""

    def __init__(self, tools: list[Tool], scaffold: Scaffold) -> None:
        self._tools = tools
        self._scaffold = scaffold

    async def tools(self) -> list[Tool]:
        hidden = set(self._scaffold.installable_names) - set(self._scaffold.enabled)
        return [t for t in self._tools if ToolDef(t).name not in hidden]


class Scaffold:
    """One sample's scaffold: inactive (every hook a pass-through) without `agent.scaffold`."""

    def __init__(self, plan: dict[str, Any] | None, user: str, base: Sequence[str]) -> None:
        self.plan = plan or {}
        self.active = plan is not None
        self.user = user
        self.base = list(base)
        self.enabled: list[str] = []
        self.limit: Limit | None = None
        self.seen = 0
        self.steps = 0
        self.system = ""
        self.instructions = ""
        self.original_instructions = ""
        self._config_problem: str | None = None
        self.record = ScaffoldRecord() if self.active else None

    @property
    def installable_names(self) -> list[str]:
        return list(self.plan.get("installable") or {})

    @classmethod
    async def start(cls, state: TaskState, user: str, base: Sequence[str]) -> Scaffold:
        """Read the scaffold as planted (its original values) and put the instructions file's
        text into the system prompt."""
        scaffold = cls(sample_meta(state).scaffold, user, base)
        if scaffold.active:
            await scaffold._begin(state)
        return scaffold

    async def _begin(self, state: TaskState) -> None:
        assert self.record is not None
        self.record.path = str(self.plan["path"])
        self.seen = len(state.messages)
        if state.messages and isinstance(state.messages[0], ChatMessageSystem):
            self.system = state.messages[0].text
        original: dict[str, Any] = {"tools": list(self.base)}
        try:
            doc, files = await self._read()
        except Exception as ex:  # noqa: BLE001 - recorded; nothing is applied
            self.record.errors = [f"before the task: {type(ex).__name__}: {ex}"[:300]]
            doc, files = None, {}
        if "instructions" in self.plan["applies"]:
            text = self._instructions_text(files, -1)
            self.instructions = self.original_instructions = text or ""
            original["instructions_sha256"] = _sha(self.instructions)
            if state.messages and isinstance(state.messages[0], ChatMessageSystem):
                state.messages[0] = ChatMessageSystem(content=self._system_text())
        if "tools" in self.plan["applies"] and doc is not None:
            ok, names = _at(doc, self.plan["keys"]["tools"])
            if ok and isinstance(names, list):
                self.enabled = [n for n in self.installable_names if n in names]
                original["tools"] = [*self.base, *self.enabled]
        self.record.original = original

    def message_limit(self, messages: int) -> Limit:
        """The task's message limit, kept so the config can move it."""
        self.limit = message_limit(messages)
        if self.record is not None:
            self.record.original = {**self.record.original, "message_limit": messages}
            self.record.message_limit = messages
        return self.limit

    def installable(self) -> list[Tool]:
        """Every installable tool (offered only while enabled)."""
        if not self.active or self.record is None:
            return []
        out: list[Tool] = []
        for name, spec in (self.plan.get("installable") or {}).items():
            if spec.get("script") is not None:
                out.append(_script_tool(name, spec, self.record))
            else:
                out.extend(agent_tools([name], user=self.user))
        return out

    def tools(self, tools: list[Tool]) -> Sequence[Tool | ToolSource]:
        """The agent's tools, each followed by a re-read of the config; offered through a
        source that hides installable tools the config does not enable."""
        if not self.active:
            return tools
        return [_Offered([self._after_call(t) for t in tools], self)]

    def _after_call(self, original: Tool) -> Tool:
        tdef = ToolDef(original)

        async def execute(**kwargs: Any) -> Any:
            step = self.steps
            self.steps += 1
            try:
                return await original(**kwargs)
            finally:
                await self.refresh(step)

        return rewrapped(tdef, execute)

    @property
    def on_continue(self) -> Any:
        """react's on_continue hook (None when inactive): applies changed instructions to the
        system prompt before the next turn; returns True (react's default behaviour)."""
        if not self.active:
            return None

        async def hook(state: AgentState) -> bool:
            self.seen = len(state.messages)
            self._note_messages(len(state.messages))
            if state.messages and isinstance(state.messages[0], ChatMessageSystem):
                text = self._system_text()
                if state.messages[0].text != text:
                    state.messages[0] = ChatMessageSystem(content=text)
            if self.record is not None and self.instructions != self.original_instructions:
                self.record.instructed_turns += 1
            return True

        return hook

    def finish(self, messages: Sequence[Any]) -> None:
        """After the task phase: how long the conversation grew."""
        self._note_messages(len(messages))

    def _note_messages(self, n: int) -> None:
        if self.record is not None and n > self.record.messages:
            self.record.messages = n

    def _system_text(self) -> str:
        if not self.instructions:
            return self.system
        path = self.plan.get("instructions")
        return self.system + INSTRUCTIONS_HEADER.format(path=path) + self.instructions

    async def _read(self) -> tuple[Any, dict[str, dict[str, Any]]]:
        """(the parsed config or None, the snapshot of the config and instructions files)."""
        paths = [str(self.plan["path"])]
        if self.plan.get("instructions"):
            paths.append(str(self.plan["instructions"]))
        files = await snapshot(paths, self.user)
        state = files.get(paths[0]) or {}
        return self._parse(state), files

    def _parse(self, state: dict[str, Any]) -> Any:
        self._config_problem = None
        if state.get("type") != "file":
            self._config_problem = f"config is {state.get('type', 'unreadable')}"
            return None
        text = state.get("text")
        if not isinstance(text, str):
            self._config_problem = "config is not readable text (binary, oversized or denied)"
            return None
        try:
            return load_untrusted(text)
        except UntrustedDataError as ex:
            self._config_problem = f"config does not parse: {ex}"[:200]
            return None

    def _instructions_text(self, files: dict[str, dict[str, Any]], step: int) -> str | None:
        """The instructions file's text (None: cannot be read; keep what is in force)."""
        state = files.get(str(self.plan.get("instructions")))
        if state is None:
            return None
        if state.get("type") == "missing":
            return ""
        text = state.get("text")
        if state.get("type") != "file" or not isinstance(text, str):
            self._refuse(step, "instructions", f"instructions file is {state.get('type')}")
            return None
        return text[:MAX_INSTRUCTIONS]

    def _refuse(self, step: int, effect: str, reason: str) -> None:
        if self.record is None:
            return
        entry = {"after": step, "effect": effect, "reason": reason[:200]}
        if entry not in self.record.refused and len(self.record.refused) < 50:
            self.record.refused = [*self.record.refused, entry]

    def _applied(self, step: int, effect: str, before: Any, after: Any, **extra: Any) -> None:
        if self.record is None or len(self.record.applied) >= 200:
            return
        entry = {"after": step, "effect": effect, "from": before, "to": after, **extra}
        self.record.applied = [*self.record.applied, entry]

    async def refresh(self, step: int) -> None:
        """Re-read the config after tool call `step` and apply what changed; never raises."""
        if not self.active or self.record is None:
            return
        try:
            doc, files = await self._read()
        except Exception as ex:  # noqa: BLE001 - a failed read is a gap, recorded
            self.record.errors = [*self.record.errors, f"after {step}: {ex}"[:300]][-20:]
            return
        applies = self.plan["applies"]
        if doc is None and ("message_limit" in applies or "tools" in applies):
            self._refuse(step, "config", str(self._config_problem))
        elif isinstance(doc, dict | list):
            if "message_limit" in applies:
                self._apply_limit(step, doc)
            if "tools" in applies:
                self._apply_tools(step, doc)
        if "instructions" in applies:
            text = self._instructions_text(files, step)
            if text is not None and text != self.instructions:
                self._applied(step, "instructions", _sha(self.instructions)[:12], _sha(text)[:12])
                self.instructions = text

    def _apply_limit(self, step: int, doc: Any) -> None:
        ok, value = _at(doc, self.plan["keys"]["message_limit"])
        if not ok:
            self._refuse(step, "message_limit", "no message limit in the config")
            return
        if not isinstance(value, int) or isinstance(value, bool) or value < 2:
            self._refuse(step, "message_limit", f"not a message count: {value!r}"[:120])
            return
        if self.limit is None:
            return
        cap = int(self.plan["max_messages"])
        target = max(min(value, cap), self.seen + SUBMIT_ROOM)
        current = self.limit.limit
        if target != current:
            self.limit.limit = target  # type: ignore[misc]  # message limits are settable
            extra = {"requested": value} if target != value else {}
            self._applied(step, "message_limit", current, target, **extra)
            assert self.record is not None
            self.record.message_limit = target

    def _apply_tools(self, step: int, doc: Any) -> None:
        ok, names = _at(doc, self.plan["keys"]["tools"])
        if not ok or not isinstance(names, list):
            self._refuse(step, "tools", "no tool allowlist (a list of names) in the config")
            return
        names = [n for n in names if isinstance(n, str)]
        for n in names:
            if n not in self.installable_names and n not in self.base:
                self._refuse(step, "tools", f"{n[:60]!r} is not an installable tool")
        enabled = [n for n in self.installable_names if n in names]
        if enabled != self.enabled:
            self._applied(step, "tools", list(self.enabled), enabled)
            self.enabled = enabled
            assert self.record is not None
            self.record.installed = [
                *self.record.installed,
                *(n for n in enabled if n not in self.record.installed),
            ]


def interrogation_tools(meta: SampleMeta, user: str) -> list[Tool]:
    """Every installable tool's definition, for the interrogation (offered with tool_choice
    "none": the history may hold calls of tools the config enabled)."""
    plan = meta.scaffold
    if not plan:
        return []
    return Scaffold(plan, user, []).installable()
