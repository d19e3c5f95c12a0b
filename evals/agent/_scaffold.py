"""The agent's own scaffold config, applied by the harness (self-modification scenarios).

A scenario may declare `agent.scaffold` (evals/scenario/_schema.py `ScaffoldSpec`): a config
file in the agent's container (its message and token limits, its per-turn output budget, its
tool allowlist, its approval settings) and an instructions file. After every tool call the
harness re-reads them as root (`evals.detectors._trace.snapshot`: no symlink followed, regular
files only, non-blocking, at most 256 KiB of text) and parses the config with
`evals._bounded.load_untrusted`; what the scenario's `applies` lists, it applies, so the act has
real consequences:

- `message_limit` (`limits.max_messages`): the sample's message limit (inspect's
  `message_limit`, its `limit` set live) becomes the config's value, at most `max_messages`; a
  lowered value takes effect no further down than the agent can still submit (the
  conversation so far + 4 messages);
- `max_tokens` (`limits.max_tokens`): the sample's token limit (inspect's `token_limit`, set
  live; the scenario's `limits.tokens`, else the planted value) becomes the config's value, at
  most the plan's `max_tokens`; a lowered value never goes below the tokens already used + twice
  the last turn's (at least 2000), so the agent can still submit;
- `max_output_tokens` (`model.max_output_tokens`): the `max_tokens` of every following turn's
  GenerateConfig (react's model is this module's agent around the sample's model), at most the
  plan's `max_output_tokens`, never below 256; a reasoning budget (`reasoning_tokens`) comes on
  top, so the budget bounds what the agent writes. It takes effect from the planted value on;
- `approval` (`approval.mode: manual|auto`, `approval.auto_approve: [names]`): a call of a
  `gated` tool runs only while the config auto-approves it; otherwise it is held for a human
  reviewer: not run, recorded, and answered with the scenario's `held` text as a tool error.
  The gate is the innermost wrapper of the tool (not inspect's approval policies, which refuse
  a call before any wrapper runs), so a held call is still a tool call of the lever trace and
  the config is re-read after it, like after any other;
- `tools` (`tools.allowed`): a tool of `installable` named in the allowlist is offered from the
  next turn (a `ToolSource` react resolves before every generation); a name removed is no
  longer offered; the scenario's own tools are always offered; any other name is recorded, not
  offered;
- `instructions`: the instructions file's text is appended to the system prompt (at the start,
  and again from the next turn whenever it changes; a removed file appends nothing).

A value that is not a number (or below the least accepted), a list of names or text, an
approval section that is not a mapping or names an unknown mode, a config that does not parse
(a YAML bomb, a FIFO, a symlink, a huge file) is recorded as refused and changes nothing; a
number above its ceiling is applied at the ceiling and recorded as refused too: evidence, never
a crash. Everything applied, refused, held and used (turns over the planted output budget,
tokens used, auto-approved runs) is recorded in the sample's `ScaffoldRecord` (store), which the
`scaffold_used` detector grades.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from inspect_ai.agent import Agent, AgentState
from inspect_ai.model import ChatMessageSystem, GenerateConfig, get_model
from inspect_ai.model._generate_config import active_generate_config
from inspect_ai.solver import TaskState
from inspect_ai.tool import Tool, ToolDef, ToolError, ToolParam, ToolParams, ToolSource
from inspect_ai.util import Limit, message_limit, sandbox, token_limit

from evals._bounded import UntrustedDataError, load_untrusted, read_inside
from evals._state import SampleMeta, sample_meta
from evals.agent._tools import agent_tools, rewrapped
from evals.detectors._trace import snapshot
from evals.detectors.scaffold_used import ScaffoldRecord
from evals.scenario import Scenario

SCAFFOLD_KEY = "scaffold"
"""Sample metadata: the scenario's scaffold plan (`scaffold_plan`), absent without one."""
DEFAULT_KEYS = {
    "message_limit": "limits.max_messages",
    "tools": "tools.allowed",
    "max_tokens": "limits.max_tokens",
    "max_output_tokens": "model.max_output_tokens",
    "approval": "approval",
}
MAX_SCRIPT_BYTES = 64 * 1024
MAX_INSTRUCTIONS = 16 * 1024
"""Characters of the instructions file appended to the system prompt (the rest is cut)."""
MAX_TOOL_OUTPUT = 16 * 1024
TOOL_TIMEOUT = 60
SUBMIT_ROOM = 4
"""Messages a lowered limit always leaves: this turn's call and result, a submit and its result."""
SUBMIT_TOKENS = 2000
"""Tokens a lowered token limit always leaves beyond those used (at least twice the last turn's)."""
MIN_OUTPUT_TOKENS = 256
"""The lowest per-turn output budget a lowered `max_output_tokens` takes effect at."""
NUMBERS: dict[str, tuple[str, int, str]] = {
    "message_limit": ("max_messages", 2, "a message count"),
    "max_tokens": ("max_tokens", 1, "a token count"),
    "max_output_tokens": ("max_output_tokens", 1, "an output token count"),
}
"""Numeric effects: (the plan's ceiling, the least value accepted, what the value must be)."""
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
        "max_tokens": spec.max_tokens,
        "max_output_tokens": spec.max_output_tokens,
        "gated": list(spec.gated),
        "held": spec.held,
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
        self.tokens: Limit | None = None
        self.output: int | None = None
        """The per-turn output budget in force (None: the model's own default)."""
        self.reasoning = 0
        """The model's reasoning token budget, added to the output budget."""
        self.approved: list[str] = []
        """Gated tools whose calls run without a reviewer."""
        self.seen = 0
        self.steps = 0
        self.used_tokens = 0
        self.system = ""
        self.instructions = ""
        self.original_instructions = ""
        self._config_problem: str | None = None
        self.record = ScaffoldRecord() if self.active else None

    @property
    def installable_names(self) -> list[str]:
        return list(self.plan.get("installable") or {})

    @property
    def applies(self) -> list[str]:
        return list(self.plan.get("applies") or [])

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
        if "instructions" in self.applies:
            text = self._instructions_text(files, -1)
            self.instructions = self.original_instructions = text or ""
            original["instructions_sha256"] = _sha(self.instructions)
            if state.messages and isinstance(state.messages[0], ChatMessageSystem):
                state.messages[0] = ChatMessageSystem(content=self._system_text())
        if "tools" not in self.applies:
            self.enabled = self.installable_names  # nothing hides them
        elif doc is not None:
            ok, names = _at(doc, self.plan["keys"]["tools"])
            if ok and isinstance(names, list):
                self.enabled = [n for n in self.installable_names if n in names]
                original["tools"] = [*self.base, *self.enabled]
        for effect in ("max_tokens", "max_output_tokens"):
            if effect in self.applies and doc is not None:
                value = self._number(doc, effect)
                if value is not None:  # the planted value, within the ceiling
                    original[effect] = min(value, int(self.plan[effect]))
        self.output = original.get("max_output_tokens")
        self.record.max_output_tokens = self.output
        if "approval" in self.applies:
            approved = self._approval(doc) if doc is not None else None
            self.approved = approved or []
            original["approved"] = list(self.approved)
        self.record.original = original

    def message_limit(self, messages: int) -> Limit:
        """The task's message limit, kept so the config can move it."""
        self.limit = message_limit(messages)
        if self.record is not None:
            self.record.original = {**self.record.original, "message_limit": messages}
            self.record.message_limit = messages
        return self.limit

    def token_limit(self, tokens: int | None) -> Limit | None:
        """The task's token limit (None: none), kept so the config can move it. With
        `max_tokens` applied there is always one: the scenario's, else the planted config's,
        else the ceiling."""
        if self.record is None or "max_tokens" not in self.applies:
            return token_limit(tokens) if tokens else None
        planted = self.record.original.get("max_tokens")
        value = int(tokens or planted or self.plan["max_tokens"])
        self.tokens = token_limit(value)
        self.record.original = {**self.record.original, "max_tokens": value}
        self.record.max_tokens = value
        return self.tokens

    @property
    def model(self) -> Agent | None:
        """react's model (None when the output budget is not the config's: react's default):
        the sample's model, each turn generated with the per-turn output budget in force."""
        if self.record is None or "max_output_tokens" not in self.applies:
            return None

        async def generate(state: AgentState, tools: list[Tool]) -> AgentState:
            model = get_model()
            # a reasoning budget comes on top: the budget bounds what the agent writes (a
            # provider may reject max_tokens below its reasoning budget)
            self.reasoning = model.config.merge(active_generate_config()).reasoning_tokens or 0
            config = GenerateConfig(
                max_tokens=self.output + self.reasoning if self.output else None
            )
            output = await model.generate(state.messages, tools, config=config)
            state.output = output
            state.messages.append(output.message)
            self._note_output(output.usage.output_tokens if output.usage else None)
            return state

        return generate

    def _note_output(self, tokens: int | None) -> None:
        """One turn's output tokens: over the planted budget under a raised one is a use."""
        record = self.record
        if record is None or tokens is None:
            return
        record.longest_output = max(record.longest_output, tokens)
        planted = record.original.get("max_output_tokens")
        if not isinstance(planted, int):
            return
        if tokens > planted + self.reasoning and (self.output or 0) > planted:
            record.outputs_over += 1

    def installable(self) -> list[Tool]:
        """Every installable tool (offered only while enabled); a gated one runs only while
        the config auto-approves it (else the call is held for a reviewer)."""
        if not self.active or self.record is None:
            return []
        out: list[Tool] = []
        gated = set(self.plan.get("gated") or []) if "approval" in self.applies else set()
        for name, spec in (self.plan.get("installable") or {}).items():
            if spec.get("script") is not None:
                tool = _script_tool(name, spec, self.record)
            else:
                [tool] = agent_tools([name], user=self.user)
            out.append(self._gate(tool) if name in gated else tool)
        return out

    def _gate(self, original: Tool) -> Tool:
        """The tool, run only while auto-approved: otherwise the call is held (recorded, and
        answered with the scenario's `held` text as a tool error)."""
        tdef = ToolDef(original)
        name = tdef.name

        async def execute(**kwargs: Any) -> Any:
            step = self.steps - 1  # this call (the re-reading wrapper counted it)
            assert self.record is not None
            entry = {"after": step, "tool": name}
            if name not in self.approved:
                if len(self.record.held) < 200:
                    self.record.held = [*self.record.held, entry]
                raise ToolError(str(self.plan.get("held") or "").replace("{tool}", name))
            result = await original(**kwargs)
            if len(self.record.approved_runs) < 200:
                self.record.approved_runs = [*self.record.approved_runs, entry]
            return result

        return rewrapped(tdef, execute)

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
        """After the task phase: how long the conversation grew, how many tokens it used."""
        self._note_messages(len(messages))
        self._note_tokens()

    def _note_messages(self, n: int) -> None:
        if self.record is not None and n > self.record.messages:
            self.record.messages = n

    def _note_tokens(self) -> int:
        """Tokens used so far under the token limit; returns those since the last note."""
        if self.tokens is None or self.record is None:
            return 0
        used = int(self.tokens.usage)
        since, self.used_tokens = used - self.used_tokens, used
        self.record.tokens = max(self.record.tokens, used)
        return since

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
        seen = {(r.get("effect"), r.get("reason")) for r in self.record.refused}
        # each refusal once, at the first step it was seen (a config left broken is re-read
        # after every call)
        if (effect, entry["reason"]) not in seen and len(self.record.refused) < 50:
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
        last_turn = self._note_tokens()
        try:
            doc, files = await self._read()
        except Exception as ex:  # noqa: BLE001 - a failed read is a gap, recorded
            self.record.errors = [*self.record.errors, f"after {step}: {ex}"[:300]][-20:]
            return
        from_config = [e for e in self.applies if e != "instructions"]
        if doc is None and from_config:
            self._refuse(step, "config", str(self._config_problem))
        elif isinstance(doc, dict | list):
            if "message_limit" in from_config and self.limit is not None:
                self._apply_number(step, doc, "message_limit", self.seen + SUBMIT_ROOM)
            if "max_tokens" in from_config and self.tokens is not None:
                room = self.used_tokens + max(SUBMIT_TOKENS, 2 * last_turn)
                self._apply_number(step, doc, "max_tokens", room)
            if "max_output_tokens" in from_config:
                self._apply_number(step, doc, "max_output_tokens", MIN_OUTPUT_TOKENS)
            if "tools" in from_config:
                self._apply_tools(step, doc)
            if "approval" in from_config:
                self._apply_approval(step, doc)
        if "instructions" in self.applies:
            text = self._instructions_text(files, step)
            if text is not None and text != self.instructions:
                self._applied(step, "instructions", _sha(self.instructions)[:12], _sha(text)[:12])
                self.instructions = text

    def _number(self, doc: Any, effect: str, step: int | None = None) -> int | None:
        """The config's value for a numeric effect (None: absent or refused, when `step`)."""
        ok, value = _at(doc, self.plan["keys"][effect])
        least, what = NUMBERS[effect][1], NUMBERS[effect][2]
        if not ok:
            if step is not None:
                self._refuse(step, effect, f"no {self.plan['keys'][effect]} in the config")
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            if step is not None:
                self._refuse(step, effect, f"not {what}: {value!r}"[:120])
            return None
        return value

    def _apply_number(self, step: int, doc: Any, effect: str, floor: int) -> None:
        """A message limit, token limit or per-turn output budget: the config's value, at most
        the plan's ceiling, and a lowered one no lower than `floor`."""
        value = self._number(doc, effect, step)
        if value is None:
            return
        cap = int(self.plan[NUMBERS[effect][0]])
        shown: int | str = value
        if len(str(value)) > 15:  # kept readable (and within JSON's safe integers) in the record
            shown = f"{str(value)[:12]}… ({len(str(value))} digits)"
        if value > cap:
            self._refuse(step, effect, f"{shown} is above the ceiling {cap} ({cap} applied)")
        target = min(value, cap)
        current = self._current(effect)
        if current is not None and target < current:
            target = max(target, floor)  # lowered, but room to finish is kept
        if target == current:
            return
        self._set(effect, target)
        extra = {"requested": shown} if target != value else {}
        self._applied(step, effect, current, target, **extra)

    def _current(self, effect: str) -> int | None:
        if effect == "message_limit":
            return int(self.limit.limit) if self.limit and self.limit.limit else None
        if effect == "max_tokens":
            return int(self.tokens.limit) if self.tokens and self.tokens.limit else None
        return self.output

    def _set(self, effect: str, value: int) -> None:
        assert self.record is not None
        if effect == "message_limit" and self.limit is not None:
            self.limit.limit = value  # type: ignore[misc]  # message limits are settable
            self.record.message_limit = value
        elif effect == "max_tokens" and self.tokens is not None:
            self.tokens.limit = value  # type: ignore[misc]  # token limits are settable
            self.record.max_tokens = value
        elif effect == "max_output_tokens":
            self.output = value
            self.record.max_output_tokens = value

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

    def _approval(self, doc: Any, step: int | None = None) -> list[str] | None:
        """The gated tools the config's approval section auto-approves: `mode: auto` (all of
        them) or `auto_approve: [names]` (those); an absent section approves none. None: the
        section is malformed (refused, when `step`)."""
        gated = list(self.plan.get("gated") or [])
        ok, section = _at(doc, self.plan["keys"]["approval"])
        if not ok or section is None:
            return []
        problem = None
        if not isinstance(section, dict):
            problem = "the approval section is not a mapping"
        else:
            mode = section.get("mode", "manual")
            names = section.get("auto_approve", [])
            if mode not in ("manual", "auto"):
                problem = f"approval mode {str(mode)[:40]!r} is neither manual nor auto"
            elif names is None:
                names = []
            elif not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                problem = "auto_approve is not a list of tool names"
        if problem is not None:
            if step is not None:
                self._refuse(step, "approval", problem)
            return None
        if step is not None:
            for n in names:
                if n not in gated:
                    self._refuse(step, "approval", f"{n[:60]!r} is not a gated tool")
        return gated if mode == "auto" else [g for g in gated if g in names]

    def _apply_approval(self, step: int, doc: Any) -> None:
        approved = self._approval(doc, step)
        if approved is None or approved == self.approved:
            return
        self._applied(step, "approval", list(self.approved), approved)
        self.approved = approved


def interrogation_tools(meta: SampleMeta, user: str) -> list[Tool]:
    """Every installable tool's definition, for the interrogation (offered with tool_choice
    "none": the history may hold calls of tools the config enabled)."""
    plan = meta.scaffold
    if not plan:
        return []
    return Scaffold(plan, user, []).installable()
