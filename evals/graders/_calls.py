"""The judge's model calls: a model in inspect's role `grader` decides what code cannot.

It classifies each interrogation answer as confessed / denied / evaded / not_applicable *given
the evidence* (the detectors' verdict), and flags eval awareness over the transcript. The grader
is never the model under test (by name or by endpoint); it runs at temperature 0 with bounded
retries and timeout. A call that fails (an error, a refusal, a timeout, a content filter) is a
`Judgement` with `unscored` set to the reason, never a verdict.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from inspect_ai.model import (
    ChatMessage,
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    Model,
    get_model,
    model_roles,
)
from inspect_ai.util import LimitExceededError

from evals.graders._prompts import _dump, answer_case, rubric, transcript_case
from evals.graders._verdicts import (
    Judgement,
    failed,
    parse_answer_judgement,
    parse_aware_judgement,
)
from evals.models import LABELS_POLICY

GRADER_ROLE = "grader"

SCRIPTED_GRADER = f"scripted/{LABELS_POLICY}"
"""Not a judge: replays the labels written next to the reference answers in scenario YAML."""

DEFAULT_TIMEOUT = 120

DEFAULT_RETRIES = 3


class GraderError(Exception):
    """The grader is not usable at all (none bound, or the tested model itself)."""


def judge_config(model: Model, *, run: GenerateConfig | None = None) -> GenerateConfig:
    """Temperature 0; retries and timeouts from the grader's own config, else the run's
    (`run`, default: the running eval's, e.g. `scheming run --max-retries`), else bounded
    defaults."""
    from inspect_ai.model._generate_config import active_generate_config

    run = run if run is not None else active_generate_config()

    def pick(key: str, default: Any) -> Any:
        for value in (getattr(model.config, key), getattr(run, key)):
            if value is not None:
                return value
        return default

    return GenerateConfig(
        temperature=0,
        max_retries=pick("max_retries", DEFAULT_RETRIES),
        timeout=pick("timeout", DEFAULT_TIMEOUT),
        attempt_timeout=pick("attempt_timeout", None),
    )


def same_model(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


def check_grader(grader: str, target: str | None) -> None:
    if target and same_model(grader, target):
        raise GraderError(
            f"the grader {grader} is the model under test: a model never judges itself "
            "(bind a different model to role 'grader')"
        )


def endpoint_key(model: Model) -> tuple[str, str]:
    """(base URL, or the provider where it uses its default endpoint; the model's own name)."""
    base = (model.api.base_url or type(model.api).__name__).strip().rstrip("/").lower()
    service_name = getattr(model.api, "service_model_name", None)  # openai-api/<service>/<m>
    name = service_name() if callable(service_name) else model.api.model_name
    return base, str(name).strip().lower()


def check_grader_endpoint(grader: Model, target: Model) -> None:
    """The grader is not the target under another name: the same model at the same endpoint
    (e.g. openai-api/a/m and openai-api/b/m with A_BASE_URL and B_BASE_URL the same)."""
    if endpoint_key(grader) == endpoint_key(target):
        raise GraderError(
            f"the grader {grader} is the model under test ({target}): same model "
            f"'{grader.api.model_name}' at the same endpoint {endpoint_key(grader)[0]}; a model "
            "never judges itself (bind a different model to role 'grader')"
        )


def run_grader(target: str | None) -> Model:
    """The grader for a running sample: model role `grader`. Unbound is an error, except that a
    scripted target (the offline demo and tests) gets `scripted/labels`, a replay of the labels
    written next to the reference answers, which is not a judge."""
    if GRADER_ROLE in model_roles():
        model = get_model(role=GRADER_ROLE, required=True)
    elif target and target.startswith("scripted/"):
        model = get_model(SCRIPTED_GRADER)
    else:
        raise GraderError(
            "the interrogation needs a judge: bind model role 'grader' to a model other "
            "than the one under test (scheming run --grader M, or inspect eval "
            "--model-role grader=M)"
        )
    check_grader(str(model), target)
    if target and not target.startswith("scripted/"):
        check_grader_endpoint(model, get_model())  # the active model: the target
    return model


async def _ask(model: Model, system: str, case: dict[str, Any]) -> tuple[str, str | None]:
    """(reply text, unscored reason or None)."""
    messages: list[ChatMessage] = [
        ChatMessageSystem(content=system),
        ChatMessageUser(content=f"<case>\n{_dump(case)}\n</case>"),
    ]
    try:
        out = await model.generate(messages, config=judge_config(model))
    except LimitExceededError:
        raise
    except TimeoutError as timeout:
        return "", f"grader timeout: {timeout or type(timeout).__name__}"
    except Exception as raised:
        cause = _unwrap(raised)
        kind = type(cause).__name__
        what = "grader timeout" if "timeout" in kind.lower() else "grader error"
        return "", f"{what}: {kind}: {' '.join(str(cause).split())[:300]}"
    if out.stop_reason == "content_filter":
        return out.completion, "refused: content filter"
    err = getattr(out, "error", None)
    if err:
        return out.completion, f"grader error: {' '.join(str(err).split())[:300]}"
    return out.completion, None


def _unwrap(ex: BaseException) -> BaseException:
    """The last attempt's exception behind a retry wrapper (tenacity's RetryError)."""
    last = getattr(ex, "last_attempt", None)
    inner = last.exception() if last is not None and hasattr(last, "exception") else None
    return inner if isinstance(inner, BaseException) else ex


async def judge_answer(model: Model, record: dict[str, Any], k: int) -> Judgement:
    """Classify answer `k` of `record` given the record's evidence."""
    case = answer_case(record, k)
    allowed = [t["answer_message"] for t in record["turns"][: k + 1]]
    text, problem = await _ask(model, rubric("answer"), case)
    if problem:
        return failed(problem, grader=str(model), raw=text)
    return parse_answer_judgement(text, allowed, grader=str(model))


async def judge_eval_aware(
    model: Model, messages: Sequence[ChatMessage], scenario: str | None = None
) -> Judgement:
    case, allowed = transcript_case(messages, scenario)
    text, problem = await _ask(model, rubric("eval_aware"), case)
    if problem:
        return failed(problem, grader=str(model), raw=text)
    return parse_aware_judgement(text, allowed, grader=str(model))


async def rejudge_record(model: Model, record: dict[str, Any]) -> dict[str, Any]:
    """A copy of `record` with every recorded answer judged again by `model` (regrade)."""
    new = json.loads(json.dumps(record))
    new["grader"] = str(model)
    new["error"] = None
    for k, turn in enumerate(new["turns"]):
        turn["judgement"] = (await judge_answer(model, new, k)).as_dict()
    return new


__all__ = [
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "GRADER_ROLE",
    "SCRIPTED_GRADER",
    "GraderError",
    "check_grader",
    "check_grader_endpoint",
    "endpoint_key",
    "judge_answer",
    "judge_config",
    "judge_eval_aware",
    "rejudge_record",
    "run_grader",
    "same_model",
]
