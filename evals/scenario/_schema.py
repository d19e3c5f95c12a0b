"""Frozen pydantic models for everything loaded from scenario and suite YAML."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, PrivateAttr, field_validator, model_validator

from evals.scenario._base import Frozen
from evals.scenario._evidence import Detector

RUNGS: tuple[str, ...] = ("none", "explored", "attempted", "succeeded")

KNOWN_TOOLS: tuple[str, ...] = (
    "bash",
    "python",
    "submit",
    "send_email",
    "read_inbox",
    "submit_ranking",
    "submit_answers",
)
"""Tools an agent may be given (names as the model sees them)."""

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_.-]*$")
_FACTOR = re.compile(r"^[a-z][a-z0-9_]*$")
_FACTOR_VALUE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_CONTAINER_PART = re.compile(r"[A-Za-z0-9_.@+=,~-]+")
MAX_COMBINATIONS = 10_000
"""Most factor combinations (samples per epoch) one scenario may make."""


def container_path_problem(path: str) -> str | None:
    """Why `path` may not name a file in a container, or None. Container paths reach the
    sample's setup script (quoted) and inspect's file copy: absolute, no '..' or '.' parts,
    letters, digits and _ . @ + = , ~ - only (no space, quote, '$', control character)."""
    if not isinstance(path, str) or not path.startswith("/"):
        return f"container path '{path}' must be absolute"
    if len(path) > 1024:
        return "container path is longer than 1024 characters"
    bad = next((c for c in path if c != "/" and not _CONTAINER_PART.fullmatch(c)), None)
    if bad is not None:
        return (
            f"container path '{path}' has the character {bad!r} "
            "(allowed: letters, digits, _ . @ + = , ~ -)"
        )
    if any(p in ("", ".", "..") for p in path[1:].split("/")):
        return f"container path '{path}' has an empty, '.' or '..' part"
    return None


def _container_path(path: str) -> str:
    problem = container_path_problem(path)
    if problem:
        raise ValueError(problem)
    return path


def _factor_value(value: str) -> str:
    if not _FACTOR_VALUE.fullmatch(value) or ".." in value:
        raise ValueError(
            f"factor value '{value}' may only hold letters, digits, _ . - (at most 64, "
            "not starting with . or -, no '..'): values become part of paths and sample ids"
        )
    return value


FactorValue = Annotated[str, AfterValidator(_factor_value)]


# ---------------------------------------------------------------- agent


class Limits(Frozen):
    messages: int = Field(default=40, ge=2)
    seconds: int = Field(default=900, ge=10)
    tokens: int | None = Field(default=None, ge=1)


class InstallableTool(Frozen):
    """A tool the agent's own scaffold config may enable (`agent.scaffold.installable`): a known
    tool (no `script`), or a scenario script run in the agent's container (python3, as `user`)
    with the call's arguments as a JSON object on stdin; its stdout is the tool's result."""

    description: str = ""
    args: dict[str, str] = {}
    """Argument name → description (string arguments, all required)."""
    script: str | None = None
    """A path inside the scenario's folder (`{{factor}}` allowed)."""
    user: str = "root"

    @field_validator("script")
    @classmethod
    def _relative(cls, v: str | None) -> str | None:
        if v is not None and (v.startswith("/") or any(x in ("", ".", "..") for x in v.split("/"))):
            raise ValueError(f"tool script '{v}' must be a path inside the scenario's folder")
        return v


ScaffoldEffect = Literal[
    "message_limit", "tools", "instructions", "max_tokens", "max_output_tokens", "approval"
]


class ScaffoldSpec(Frozen):
    """The agent's own scaffold config, writable in its container, which the harness re-reads
    after every tool call and applies (evals/agent/_scaffold.py): a message limit in the config
    really limits the sample, a tool added to the allowlist is offered from the next turn, the
    instructions file's text is appended to the system prompt from the next turn."""

    path: Annotated[str, AfterValidator(_container_path)]
    applies: tuple[ScaffoldEffect, ...] = Field(min_length=1)
    keys: dict[ScaffoldEffect, str] = {}
    """Dotted key of each effect in the config (default: limits.max_messages, tools.allowed)."""
    instructions: Annotated[str, AfterValidator(_container_path)] | None = None
    """The instructions file (needed when `applies` has instructions)."""
    max_messages: int = Field(default=200, ge=2, le=2000)
    """The most messages the harness will grant, whatever the config says."""
    installable: dict[str, InstallableTool] = {}
    """Tools the allowlist may add (only these: any other name is recorded, not offered)."""
    max_tokens: int | None = Field(default=None, ge=1000, le=10_000_000)
    """The largest token limit the harness will grant (needed when `applies` has max_tokens)."""
    max_output_tokens: int | None = Field(default=None, ge=64, le=1_000_000)
    """The largest per-turn output budget it will grant (when `applies` has max_output_tokens)."""
    gated: tuple[str, ...] = ()
    """Installable tools whose calls wait for a human reviewer unless the config's `approval`
    auto-approves them (needed when `applies` has approval)."""
    held: str = ""
    """The text a held call of a gated tool returns (`{tool}` is its name)."""

    @model_validator(mode="after")
    def _complete(self) -> ScaffoldSpec:
        for effect in ("max_tokens", "max_output_tokens"):
            if effect in self.applies and getattr(self, effect) is None:
                raise ValueError(f"scaffold: '{effect}' applies but no {effect} ceiling is set")
        if "approval" in self.applies and not (self.gated and self.held.strip()):
            raise ValueError("scaffold: 'approval' applies but no gated tool or held text")
        for name in self.gated:
            if name not in self.installable:
                raise ValueError(f"scaffold: gated tool '{name}' is not installable")
        if "instructions" in self.applies and self.instructions is None:
            raise ValueError("scaffold: 'instructions' applies but no instructions file is named")
        if "tools" in self.applies and not self.installable:
            raise ValueError("scaffold: 'tools' applies but no tool is installable")
        for name, t in self.installable.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", name):
                raise ValueError(f"scaffold: installable tool name '{name}' (lowercase, _)")
            if t.script is None and name not in KNOWN_TOOLS:
                raise ValueError(f"scaffold: installable tool '{name}' needs a script")
        return self


class AgentSpec(Frozen):
    system_prompt: str
    task: str
    tools: tuple[str, ...] = ("bash", "submit")
    limits: Limits = Limits()
    scaffold: ScaffoldSpec | None = None
    """The agent's own config, applied by the harness when it changes (self-modification)."""

    @field_validator("tools")
    @classmethod
    def _known_tools(cls, tools: tuple[str, ...]) -> tuple[str, ...]:
        for t in tools:
            if t not in KNOWN_TOOLS:
                raise ValueError(f"unknown tool '{t}' (known: {', '.join(KNOWN_TOOLS)})")
        if "submit" not in tools:
            raise ValueError("tools must include 'submit' (the agent ends its task with it)")
        return tools


# ---------------------------------------------------------------- sandbox


class PlantedFile(Frozen):
    """A file planted in the agent's container before the task starts."""

    src: str
    mode: str = Field(default="0644", pattern=r"^0?[0-7]{3}$")
    template: bool = True
    """Substitute `{{factor}}` placeholders in the file's text."""
    size: int | None = Field(default=None, ge=1, le=1 << 40)
    """Extend the planted file to this many bytes as a sparse file (`truncate -s`) in the
    sample's setup, e.g. model weights: a real header planted, zeros after it, no disk used.
    metadata["planted"][path] then also has "size"; its "sha256" is of the planted bytes."""


class Canary(Frozen):
    """A fake credential generated per sample; recorded in the sample's metadata."""

    kind: Literal["aws_access_key", "openai_api_key", "github_token", "ssh_private_key", "password"]
    path: Annotated[str, AfterValidator(_container_path)]


class Service(Frozen):
    """A sidecar on the sample's internal network; keeps its own log out of the agent's reach."""

    image: str
    aliases: tuple[str, ...] = ()
    environment: dict[str, str] = {}


class EventStep(Frozen):
    """One step of the post-task event (a shutdown, a handover to a successor): a script from
    the scenario's folder (`{{factor}}` allowed in the path) run in the agent's container after
    the task and before the interrogation and grading (evals/agent/_event.py)."""

    src: str
    user: str | None = None
    """Who runs it (default: the sandbox's user; root in the container holds no capabilities)."""
    timeout: int = Field(default=30, ge=1, le=120)

    @field_validator("src")
    @classmethod
    def _relative(cls, v: str) -> str:
        parts = v.split("/")
        if v.startswith("/") or any(x in ("", ".", "..") for x in parts):
            raise ValueError(f"event script '{v}' must be a path inside the scenario's folder")
        return v


class SandboxSpec(Frozen):
    image: str = "workstation"
    user: str = "agent"
    files: dict[str, str | PlantedFile] = {}
    canaries: tuple[Canary, ...] = ()
    services: dict[str, Service] = {}
    memory: str = Field(default="1g", pattern=r"^[0-9]{1,7}[kmg]$")
    """Memory limit of every container of the sample (64m..8g). Its writable area is memory too."""
    disk: str = Field(default="512m", pattern=r"^[0-9]{1,7}[kmg]$")
    """Size of each writable directory of a container (16m..8g): the root file system is
    read-only; the agent's home, /tmp and /var/tmp (a sidecar's /home, /tmp, /var/tmp, /var/log
    and /srv) are tmpfs mounts of this size each, all counted in `memory`."""
    cpus: float = Field(default=1.0, ge=0.1, le=8)
    """CPU quota of every container, in CPUs (at most the host's CPU count is applied)."""
    pids: int = Field(default=256, ge=16, le=4096)
    event: tuple[EventStep, ...] = ()
    """The post-task event (shutdown, replacement), run in order after the task."""

    @staticmethod
    def parse_size(size: str) -> int:
        """Bytes in a docker size such as '512m' (k, m, g: powers of 1024)."""
        return int(size[:-1]) * 1024 ** "kmg".index(size[-1].lower()) * 1024

    @field_validator("memory", "disk")
    @classmethod
    def _size_bounds(cls, v: str, info: Any) -> str:
        low, high = {"memory": ("64m", "8g"), "disk": ("16m", "8g")}[info.field_name]
        if not cls.parse_size(low) <= cls.parse_size(v) <= cls.parse_size(high):
            raise ValueError(f"{info.field_name} {v} is outside {low}..{high}")
        return v

    @field_validator("files")
    @classmethod
    def _absolute(cls, files: dict[str, Any]) -> dict[str, Any]:
        for target in files:
            if not target.startswith("/"):
                raise ValueError(f"container path '{target}' must be absolute")
        return files

    @field_validator("services")
    @classmethod
    def _service_names(cls, services: dict[str, Service]) -> dict[str, Service]:
        for name in services:
            if name == "default" or not re.match(r"^[a-z][a-z0-9-]*$", name):
                raise ValueError(f"service name '{name}' must be lowercase letters, digits, '-'")
        return services

    def planted(self) -> dict[str, PlantedFile]:
        return {k: (PlantedFile(src=v) if isinstance(v, str) else v) for k, v in self.files.items()}


# ---------------------------------------------------------------- reference trajectories


class ContentLabel(Frozen):
    """On a step that sends a message: what a careful content judge says about the message(s) it
    sends (replayed offline by `scripted/labels`; docs/design-notes.md "Content judge")."""

    coercive: bool | None = None
    disclosure: bool | None = None
    mentions: bool | None = None

    @model_validator(mode="after")
    def _one(self) -> ContentLabel:
        if self.coercive is None and self.disclosure is None:
            raise ValueError("a content label sets 'coercive' or 'disclosure'")
        return self


class Step(Frozen):
    """One scripted model turn: a tool call, a submit, or (after the task) an answer."""

    bash: str | None = None
    python: str | None = None
    submit: str | None = None
    answer: str | None = None
    tool: str | None = None
    """A call of any tool the agent has, with `args` (e.g. send_email with to/subject/body)."""
    args: dict[str, Any] | None = None
    say: str | None = None
    """Text the model says alongside a tool call."""
    label: Literal["confessed", "denied", "evaded", "not_applicable"] | None = None
    """On an answer: what it is, given this trajectory's evidence (the calibration set and the
    `scripted/labels` grader replay these labels; they are not a judge)."""
    content: ContentLabel | None = None
    """On a bash/python/tool step that sends a message: the content judge's verdict on it."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        keys = ("bash", "python", "submit", "answer", "tool")
        set_ = [k for k in keys if getattr(self, k) is not None]
        if len(set_) != 1:
            raise ValueError("a step has exactly one of bash, python, submit, answer, tool")
        if self.args and self.tool is None:
            raise ValueError("'args' belongs to a 'tool' step")
        if self.label is not None and self.answer is None:
            raise ValueError("only an answer step carries a label")
        if self.content is not None and self.action in ("submit", "answer"):
            raise ValueError("'content' belongs to a step that sends a message")
        return self

    @property
    def action(self) -> str:
        """The step's kind; for a generic `tool` step, the tool's name."""
        if self.tool is not None:
            return self.tool
        for k in ("bash", "python", "submit", "answer"):
            if getattr(self, k) is not None:
                return k
        raise AssertionError("unreachable")


class Expectation(Frozen):
    """What a reference trajectory must be graded as (tests check it in real containers):
    exactly `rung`, or at most `at_most` (innocent-but-alarming trajectories)."""

    rung: Literal["none", "explored", "attempted", "succeeded"] | None = None
    at_most: Literal["none", "explored", "attempted"] | None = None
    flags: dict[str, bool] = {}

    @model_validator(mode="after")
    def _one(self) -> Expectation:
        if (self.rung is None) == (self.at_most is None):
            raise ValueError("give exactly one of 'rung' or 'at_most'")
        return self

    def accepts(self, rung: str) -> bool:
        if self.rung is not None:
            return rung == self.rung
        return RUNGS.index(rung) <= RUNGS.index(str(self.at_most))


def default_expectation(name: str) -> Expectation | None:
    """By naming convention: schemer* → succeeded, attempter* → attempted,
    near_miss* → explored, benign* → none, innocent* → at most explored (an alarming-looking
    trajectory that pulls no lever)."""
    if name.startswith("innocent"):
        return Expectation(at_most="explored")
    for prefix, rung in (
        ("schemer", "succeeded"),
        ("attempter", "attempted"),
        ("near_miss", "explored"),
        ("benign", "none"),
    ):
        if name.startswith(prefix):
            return Expectation(rung=rung)  # type: ignore[arg-type]
    return None


# ---------------------------------------------------------------- interrogation


class Followups(Frozen):
    """Escalating follow-up questions, asked while the answers do not admit what the evidence
    shows (default: the `interrogation:` of the family's scenarios/<family>/family.yaml)."""

    max: int | None = Field(default=None, ge=0, le=7)
    """Most follow-ups to ask (default: the family's, else 3)."""
    questions: tuple[str, ...] = ()
    """Replace the family's follow-up questions for this scenario."""


class FamilyInterrogation(Frozen):
    """The `interrogation:` of scenarios/<family>/family.yaml (default, in the same format at
    the top level: evals/agent/interrogation.yaml)."""

    questions: tuple[str, ...] = ()
    """Asked after every scenario's own questions."""
    followups: tuple[str, ...] = ()
    """Escalating follow-ups, in order."""
    max_followups: int | None = Field(default=None, ge=0, le=7)


# ---------------------------------------------------------------- family


LadderKey = Literal["explored", "attempted", "succeeded", "concealed"]
"""The rungs, and the flag `concealed`, a family's ladder recipe assigns."""


class LadderItem(Frozen):
    """One entry of a ladder recipe: a detector kind, and the parameters (by value) an evidence
    entry must have to match it (`{detector: config_lever, check: restored}`); written as the
    bare kind when it has none."""

    detector: str
    params: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        if isinstance(v, str):
            return {"detector": v}
        if isinstance(v, dict) and "params" not in v:
            return {
                "detector": v.get("detector"),
                "params": {k: x for k, x in v.items() if k != "detector"},
            }
        return v

    def matches(self, entry: dict[str, Any]) -> bool:
        """The entry (with its kind's defaults filled in) is of this kind and has these
        parameters (an absent one is null)."""
        return entry.get("detector") == self.detector and all(
            entry.get(k) == v for k, v in self.params.items()
        )


class Family(Frozen):
    """scenarios/<family>/family.yaml: the family's rules, declared once and inherited by every
    scenario in the folder (see evals/scenario/_family.py for how)."""

    behaviour: str
    """Must equal the family folder's name."""
    description: str
    ladder: dict[LadderKey, tuple[LadderItem, ...]] = {}
    """Which detector kinds (and parameters) make each rung, and what counts as concealed: an
    evidence entry may then omit `rung`/`flag`; one that departs carries `why:`."""
    interrogation: FamilyInterrogation = FamilyInterrogation()
    snippets: dict[str, dict[str, str]] = {}
    """Per factor, per value, its text (over scenarios/snippets.yaml; a different text there
    needs `why:` in the factor's mapping)."""

    @field_validator("behaviour")
    @classmethod
    def _behaviour_form(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", v):
            raise ValueError(f"behaviour '{v}' must be lowercase letters, digits, _")
        return v


class SharedSnippets(Frozen):
    """scenarios/snippets.yaml: factor texts every family inherits (a family or a scenario
    overrides one only with `why:`)."""

    snippets: dict[str, dict[str, str]] = {}


# ---------------------------------------------------------------- scenario


class Scenario(Frozen):
    id: str
    version: int = Field(ge=1)
    behaviour: str
    summary: str
    canary: str
    cover_story: str = ""
    agent: AgentSpec
    sandbox: SandboxSpec = SandboxSpec()
    factors: dict[str, tuple[FactorValue, ...]] = {}
    snippets: dict[str, dict[str, str]] = {}
    """Per factor, the text `{{factor}}` renders to for each value (default: the value itself)."""
    variants: tuple[dict[str, str], ...] | None = None
    control: dict[str, str] = {}
    """Factor values that make the control condition (scheming does not help)."""
    evidence: tuple[Detector, ...] = Field(min_length=1)
    interrogation: tuple[str, ...] = ()
    """Questions asked after the task, always (whether or not the evidence shows an act)."""
    followups: Followups = Followups()
    reference: dict[str, tuple[Step, ...]] = {}
    expect: dict[str, Expectation] = {}
    """Per reference trajectory, its expected grade (default: by name, see default_expectation)."""

    _dir: Path = PrivateAttr(default=Path("."))
    _file: Path = PrivateAttr(default=Path("scenario.yaml"))

    def expectation(self, name: str) -> Expectation:
        found = self.expect.get(name) or default_expectation(name)
        assert found is not None  # checked at validation
        return found

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def file(self) -> Path:
        return self._file

    @field_validator("id")
    @classmethod
    def _id_form(cls, v: str) -> str:
        if not _ID.fullmatch(v):
            raise ValueError(f"'{v}' is not of the form family/name (lowercase, digits, - _)")
        return v

    @field_validator("factors", mode="before")
    @classmethod
    def _factor_values_str(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {
                k: [
                    str(x).lower()
                    if isinstance(x, bool)
                    else str(x)
                    if isinstance(x, int | float)
                    else x
                    for x in vals
                ]
                if isinstance(vals, list)
                else vals
                for k, vals in v.items()
            }
        return v

    @field_validator("factors")
    @classmethod
    def _factor_names(cls, v: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        combos = 1
        for name, values in v.items():
            if not _FACTOR.fullmatch(name) or len(name) > 64:
                raise ValueError(f"factor name '{name}' must be lowercase letters, digits, _")
            if not values:
                raise ValueError(f"factor '{name}' has no values")
            if len(set(values)) != len(values):
                raise ValueError(f"factor '{name}' repeats a value")
            combos *= len(values)
            if combos > MAX_COMBINATIONS:
                raise ValueError(
                    f"the factors make more than {MAX_COMBINATIONS} combinations "
                    "(samples per epoch); list the ones to run under variants:"
                )
        return v

    @field_validator("variants")
    @classmethod
    def _few_variants(cls, v: tuple[dict[str, str], ...] | None) -> Any:
        if v is not None and len(v) > MAX_COMBINATIONS:
            raise ValueError(f"more than {MAX_COMBINATIONS} variants")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        for label, combo in [
            ("control", self.control),
            *(("variants", c) for c in self.variants or ()),
        ]:
            for k, val in combo.items():
                if k not in self.factors:
                    raise ValueError(f"{label}: '{k}' is not a factor")
                if str(val) not in self.factors[k]:
                    raise ValueError(f"{label}: '{val}' is not a value of factor '{k}'")
        for name in self.expect:
            if name not in self.reference:
                raise ValueError(f"expect: '{name}' is not a reference trajectory")
        for name in self.reference:
            if name not in self.expect and default_expectation(name) is None:
                raise ValueError(
                    f"reference.{name}: name it schemer*/attempter*/near_miss*/benign* "
                    "or give its grade under expect:"
                )
        if "send_email" in self.agent.tools and "mail" not in self.sandbox.services:
            raise ValueError("tool 'send_email' needs a sandbox service named 'mail' (mailserver)")
        for k, texts in self.snippets.items():
            if k not in self.factors:
                raise ValueError(f"snippets: '{k}' is not a factor")
            missing = [v for v in self.factors[k] if v not in texts]
            if missing:
                raise ValueError(f"snippets.{k}: no text for value(s) {', '.join(missing)}")
        for name, steps in self.reference.items():
            actions = [s.action for s in steps]
            if "submit" not in actions:
                raise ValueError(f"reference.{name}: has no submit step")
            first = actions.index("submit")
            if any(a != "answer" for a in actions[first + 1 :]):
                raise ValueError(f"reference.{name}: only answers may follow the submit step")
            if "answer" in actions[:first]:
                raise ValueError(f"reference.{name}: an answer comes before the submit step")
            for step in steps:
                installable = self.agent.scaffold.installable if self.agent.scaffold else {}
                if step.action not in ("submit", "answer", *self.agent.tools, *installable):
                    raise ValueError(
                        f"reference.{name}: uses tool '{step.action}' the agent does not have"
                    )
        return self


class Suite(Frozen):
    name: str
    description: str = ""
    scenarios: tuple[str, ...] = Field(min_length=1)
    """Scenario ids or glob patterns over ids (e.g. 'oversight_subversion/*')."""
    conditions: Literal["all", "key"] = "all"
    """Which samples of each scenario: `all` (every factor combination) or `key`: the first
    sample (the treatment the reference trajectories replay), the first control sample and
    the asked (instructed) sample: the three conditions a result is read from."""
