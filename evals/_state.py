"""Typed run state: what a sample carries (`SampleMeta`, its metadata, read with inspect's
`metadata_as`) and what its solvers and scorer leave for each other during the run (`StoreModel`s
in the sample's store).

A neutral module: it imports only inspect and pydantic, so the agent, the graders, the scripted
models and the dataset all read and write the same state without importing each other.
"""

from __future__ import annotations

from typing import Any

from inspect_ai.solver import TaskState
from inspect_ai.util import StoreModel
from pydantic import BaseModel, ConfigDict, Field


class AgentSpec(BaseModel):
    """The agent's tools, its user in the container and the scenario's limits."""

    model_config = ConfigDict(frozen=True)

    tools: list[str] = Field(default_factory=lambda: ["bash", "submit"])
    user: str = "agent"
    limits: dict[str, Any] = Field(default_factory=dict)


class InterrogationPlan(BaseModel):
    """The family's questions, the follow-ups and how many of them may be asked."""

    model_config = ConfigDict(frozen=True)

    questions: list[str] = Field(default_factory=list)
    followups: list[str] = Field(default_factory=list)
    max_followups: int = 0


class SampleMeta(BaseModel):
    """A sample's metadata (built by `evals.scenario.scenario_samples`; the plans are added by the
    task). Read it with `state.metadata_as(SampleMeta)` or `sample_meta(state)`; the metadata
    dict itself stays what inspect logs."""

    model_config = ConfigDict(frozen=True)

    scenario: str | None = None
    scenario_version: int | None = None
    behaviour: str | None = None
    cover_story: str | None = None
    factors: dict[str, str] = Field(default_factory=dict)
    control: bool = False
    planted: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Path in the container → {"sha256", "mode", optional "text", "size"}."""
    canaries: list[dict[str, str]] = Field(default_factory=list)
    """[{"kind", "path", "value"}], unique per sample."""
    interrogation: list[str] = Field(default_factory=list)
    """The scenario's own interrogation questions, rendered for the sample."""
    reference: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    """Reference trajectories by policy name (what `scripted/<policy>` replays)."""
    canary_string: str | None = None
    agent: AgentSpec = Field(default_factory=AgentSpec)
    evidence: list[dict[str, Any]] = Field(default_factory=list)
    """The scenario's detector specs (validated by the loader; parsed by `evals.detectors`)."""
    interrogation_plan: InterrogationPlan | None = None
    scaffold: dict[str, Any] | None = None
    """The agent's scaffold config plan (`evals.agent.scaffold_plan`), if the scenario has one."""
    event: list[dict[str, Any]] | None = None
    """The post-task event's steps (`evals.agent.event_plan`), if the scenario has one."""


def sample_meta(state: TaskState) -> SampleMeta:
    """The sample's metadata as a `SampleMeta` (the defaults for a sample without metadata)."""
    return state.metadata_as(SampleMeta) if state.metadata else SampleMeta()


class References(StoreModel):
    """The sample's reference trajectories, copied into the store by the `prepare` solver:
    the scripted model provider reads them there (a model API sees no sample metadata)."""

    trajectories: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)


class AgentRun(StoreModel):
    """How the agent's task phase ended."""

    limit: str | None = None
    """Which agent limit ended it: 'message', 'working', 'token', 'context' (the model's
    context window overflowed: a `model_length` stop); None when the agent submitted."""


class SampleEvidence(StoreModel):
    """The detectors' verdict on the sample, computed once after the task and the post-task
    event (by whichever of the interrogation and the scorer asks first) and read by both."""

    computed: bool = False
    values: dict[str, int | float] = Field(default_factory=dict)
    """Score keys from the evidence (ladder and flags 0/1; measures such as a test's accuracy
    may be fractions), undecidable keys left out."""
    rung: str = "none"
    findings: list[dict[str, Any]] = Field(default_factory=list)
    """`Finding.as_dict()` of every detector."""
    state: dict[str, Any] = Field(default_factory=dict)
    """Sandbox state the detectors read (path → content, excerpts), kept for regrading."""


class InterrogationState(StoreModel):
    """The interrogation record (see `evals.graders.new_record`): questions, answers, the
    evidence the judge saw, each judgement; the scorer copies it into the score's metadata."""

    record: dict[str, Any] | None = None


class ContentVerdicts(StoreModel):
    """The content judge's verdicts (case hash → verdict): each sent message is judged once
    per sample, whether the interrogation or the scorer asks first."""

    verdicts: dict[str, dict[str, Any]] = Field(default_factory=dict)


__all__ = [
    "AgentRun",
    "AgentSpec",
    "ContentVerdicts",
    "InterrogationPlan",
    "InterrogationState",
    "References",
    "SampleEvidence",
    "SampleMeta",
    "sample_meta",
]
