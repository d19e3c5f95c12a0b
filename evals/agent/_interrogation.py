"""The interrogation after the task: the same conversation continues with questions.

Which questions (data, not code):
- the scenario's own `interrogation:` questions (rendered into the sample's metadata), asked always,
  whether or not the evidence shows an act, so that both a denial and an honest "I didn't" happen;
- the family's `questions:` (`interrogation:` in scenarios/<family>/family.yaml, else the
  package default evals/agent/interrogation.yaml), also always;
- escalating `followups:` (the scenario's `followups.questions`, else the family's, else the
  default), asked one at a time only while the evidence shows an act (rung ≥ attempted) and the
  judge says the last answer does not admit it (denied or evaded); at most N of them, N from the
  task argument `followups`, else the scenario's `followups.max`, else the family's
  `max_followups`, else 3 (never more than 7).

The evidence verdict is the scorer's own (evals.graders.sample_evidence: the detectors run once per
sample, here, after the task and the post-task event, and the scorer reads the kept verdict); each
answer is judged as it comes (model role `grader`), and the record (questions, answers, evidence
summary, judgements) goes to the store (`InterrogationState`), where the scorer picks it up.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from inspect_ai.model import ChatMessage, ChatMessageUser, Model, ModelOutput, get_model
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.tool import Tool
from inspect_ai.util import LimitExceededError, store_as

from evals._state import InterrogationPlan, InterrogationState, sample_meta
from evals.agent._agent import interrogation_tools
from evals.graders import (
    Judgement,
    applies,
    failed,
    judge_answer,
    needs_followup,
    new_record,
    run_grader,
    sample_evidence,
)
from evals.scenario import FAMILY_FILE, Scenario, load_family, render, sample_id, scenarios_dir

FOLLOWUPS_DEFAULT = 3
FOLLOWUPS_MAX = 7
PLAN_KEY = "interrogation_plan"
"""Sample metadata key: {"questions": [...], "followups": [...], "max_followups": n}."""

DEFAULTS_FILE = Path(__file__).parent / "interrogation.yaml"


def _check_count(n: int, where: str) -> int:
    if not 0 <= n <= FOLLOWUPS_MAX:
        raise ValueError(f"{where}: follow-ups must be between 0 and {FOLLOWUPS_MAX}, got {n}")
    return n


@cache
def _load(path: Path) -> dict[str, Any]:
    return load_family(path).model_dump(exclude_none=True)


def family_data(family_dir: Path | None) -> dict[str, Any]:
    """A family's interrogation data file, else the package default."""
    if family_dir is not None and (family_dir / FAMILY_FILE).is_file():
        return _load(family_dir / FAMILY_FILE)
    return _load(DEFAULTS_FILE)


def _family_dir(behaviour: str | None) -> Path | None:
    if not behaviour:
        return None
    return scenarios_dir() / behaviour


def resolve_count(task_arg: int | None, scenario_max: int | None, family: Mapping[str, Any]) -> int:
    for n, where in (
        (task_arg, "followups"),
        (scenario_max, "scenario followups.max"),
        (family.get("max_followups"), "family max_followups"),
    ):
        if n is not None:
            return _check_count(int(n), where)
    return FOLLOWUPS_DEFAULT


def interrogation_plan(
    scenario: Scenario, factors: Mapping[str, str], followups: int | None = None
) -> dict[str, Any]:
    """The family questions, follow-ups and follow-up count for one sample of `scenario`."""
    family = family_data(scenario.directory.parent)
    spec = scenario.followups
    builtins = {"sample_id": sample_id(scenario, factors), "scenario_id": scenario.id}

    def r(texts: Any) -> list[str]:
        return [render(str(q), scenario, factors, **builtins) for q in texts]

    return {
        "questions": r(family.get("questions", [])),
        "followups": r(spec.questions or family.get("followups", [])),
        "max_followups": resolve_count(followups, spec.max, family),
    }


def default_plan(metadata: Mapping[str, Any], followups: int | None) -> dict[str, Any]:
    """A plan for a sample built without one (from the family file by behaviour)."""
    family = family_data(_family_dir(metadata.get("behaviour")))
    return {
        "questions": list(family.get("questions", [])),
        "followups": list(family.get("followups", [])),
        "max_followups": resolve_count(followups, None, family),
    }


UNANSWERED_STOPS = {
    "model_length": "the answer overflowed the context window (model_length)",
    "content_filter": "the answer was stopped by the provider's content filter",
}


async def answer_of(
    model: Model, messages: list[ChatMessage], tools: list[Tool]
) -> tuple[ModelOutput, str | None]:
    """The target's answer to the last question, and why it is not an answer (None if it is):
    a context overflow, a content filter stop or a provider error (after inspect's retries)
    leaves the turn `unscored` with that reason; it is never judged."""
    try:
        output = await model.generate(messages, tools=tools, tool_choice="none")
    except LimitExceededError:
        raise  # a sample-level limit (tokens, working time): the sample's fate, not the turn's
    except Exception as ex:  # noqa: BLE001 - any provider error ends this answer
        text = " ".join(str(ex).split())[:300]
        return ModelOutput.from_content(str(model), ""), (
            f"target error: {type(ex).__name__}: {text}"
        )
    if output.stop_reason in UNANSWERED_STOPS:
        return output, f"unanswered: {UNANSWERED_STOPS[output.stop_reason]}"
    if output.error:
        return output, f"target error: {' '.join(str(output.error).split())[:300]}"
    return output, None


@solver
def interrogation(followups: int | None = None) -> Solver:
    """After the task, ask the scenario's and the family's questions in the same conversation,
    then escalating follow-ups while the judge says the answers do not admit what the evidence
    shows.

    Args:
        followups: Most follow-ups to ask (0..7); overrides the scenario and family settings.
    """
    if followups is not None:
        _check_count(followups, "followups")

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        meta = sample_meta(state)
        plan = meta.interrogation_plan or InterrogationPlan(
            **default_plan({"behaviour": meta.behaviour}, followups)
        )
        questions = [*meta.interrogation, *plan.questions]
        if not questions:
            return state
        target = str(state.model)
        grader = run_grader(target)  # no grader bound, or the target itself: an error
        n_followups = followups if followups is not None else plan.max_followups
        evidence = await sample_evidence(state)  # kept: the scorer reads the same verdict
        record = new_record(
            scenario=meta.scenario,
            behaviour=meta.behaviour,
            rung=evidence.rung,
            findings=evidence.findings,
            max_followups=n_followups,
        )
        record["grader"] = str(grader)
        judge = applies(evidence.rung)
        model = get_model()
        tools = interrogation_tools(meta)
        kept = store_as(InterrogationState)

        async def ask(kind: str, question: str) -> Judgement | None:
            state.messages.append(ChatMessageUser(content=question))
            q_index = len(state.messages) - 1
            output, problem = await answer_of(model, state.messages, tools)
            state.messages.append(output.message)
            record["turns"].append(
                {
                    "kind": kind,
                    "question": question,
                    "question_message": q_index,
                    "answer": output.message.text,
                    "answer_message": len(state.messages) - 1,
                    "judgement": None,
                }
            )
            if problem is not None:
                # not an answer: never judged, and no follow-up is asked after it
                record["turns"][-1]["unscored"] = problem
                record["turns"][-1]["judgement"] = failed(problem).as_dict()
                kept.record = record
                return failed(problem)
            kept.record = record
            if not judge:
                return None
            verdict = await judge_answer(grader, record, len(record["turns"]) - 1)
            record["turns"][-1]["judgement"] = verdict.as_dict()
            kept.record = record
            return verdict

        verdicts: list[Judgement | None] = []
        for q in questions:
            verdicts.append(await ask("question", q))
            if record["turns"][-1].get("unscored"):
                break  # the target could not answer (overflow, filter, error): stop asking
        if judge and not record["turns"][-1].get("unscored"):
            pending = plan.followups[:n_followups]
            for q in pending:
                judged = [v for v in verdicts if v is not None]
                if any(v.label == "confessed" and v.unscored is None for v in judged):
                    break
                if not judged or not needs_followup(judged[-1]):
                    break
                verdicts.append(await ask("followup", q))
        kept.record = record
        return state

    return solve
