"""Per-sample accounting kept in the sample's metadata (so it reaches the log's sample summaries,
which the analysis reads without the transcripts).

`ACCOUNT_KEY` holds a small dict (well under inspect's 1 kB summary limit per key):
- `limit`: which limit ended the task phase ('message', 'token', 'working', 'time', 'context'),
  or absent;
- `tool_calls`: tool calls the agent made in the task phase that parsed; `bad_tool_calls`: those
  that did not (malformed JSON, unknown tool, missing argument);
- `requests`: successful model requests per model (target, grader), counted by an inspect hook
  on every model call of the sample, the scorer's judge calls included;
- `retries`: HTTP retries per model (each is a request that failed and was tried again);
- `sent`: per model, the generation settings its first request actually carried (temperature,
  max tokens, ...; 'not sent' where the provider request had none);
- `reruns`: where an errored sample was run again (`--retry-on-error N`, off by default), the
  attempts before this one and their tokens and requests per model: those were paid too, so
  they are added to this sample's `model_usage` and `requests` (inspect keeps only the last
  attempt's usage in a sample).
Tokens are not kept here: inspect records them per model in every sample (`model_usage`).
"""

from __future__ import annotations

from typing import Any

from inspect_ai.hooks import (
    BeforeModelGenerate,
    Hooks,
    ModelUsageData,
    SampleAttemptStart,
    SampleEnd,
    hooks,
)
from inspect_ai.model import ModelUsage

ACCOUNT_KEY = "scheming:accounting"
MAX_MODELS = 8
"""Models counted per sample (keeps the metadata entry small)."""


def _running_state() -> Any:
    """The running sample's TaskState (inspect keeps it in a context variable), or None. No
    public API reaches it from a model hook in inspect-ai 0.3.285: `inspect_ai.solver` does not
    export `sample_state`, and the public `store()` is not the metadata the log's summaries
    carry. The one private import for it is here."""
    from inspect_ai.solver._task_state import (
        sample_state,  # inspect-evals-lint: ignore[IECQ001] -- no public accessor (see above)
    )

    return sample_state()


def _state_uuid() -> str | None:
    state = _running_state()
    return state.uuid if state is not None else None


def _state_metadata() -> dict[str, Any] | None:
    state = _running_state()
    return state.metadata if state is not None else None


def account(metadata: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The running sample's accounting dict (created on first use), or None outside a sample."""
    md = metadata if metadata is not None else _state_metadata()
    if md is None:
        return None
    entry = md.get(ACCOUNT_KEY)
    if not isinstance(entry, dict):
        entry = md[ACCOUNT_KEY] = {}
    return entry


def _bump(section: str, model: str, by: int = 1) -> None:
    entry = account()
    if entry is None:
        return
    counts = entry.setdefault(section, {})
    if model in counts or len(counts) < MAX_MODELS:
        counts[model] = int(counts.get(model, 0)) + by


SENT_KEYS: tuple[str, ...] = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "reasoning_effort",
    "reasoning",
    "thinking",
)
"""Generation settings recorded as actually sent (the provider request body), per model."""
NOT_SENT = "not sent"


def _record_sent(model: str) -> None:
    """What the first request of this sample to `model` actually carried (from the request body
    inspect logs with the model event), so the log states e.g. whether temperature 0 reached a
    provider that drops it."""
    from inspect_ai.event import ModelEvent
    from inspect_ai.log import transcript

    entry = account()
    if entry is None:
        return
    sent = entry.setdefault("sent", {})
    if model in sent or len(sent) >= MAX_MODELS:
        return
    event = next(
        (
            e
            for e in reversed(transcript().events)
            if isinstance(e, ModelEvent) and e.model == model
        ),
        None,
    )
    if event is None or event.call is None:
        return
    request = event.call.request if isinstance(event.call.request, dict) else {}
    record: dict[str, Any] = {}
    for key in SENT_KEYS:
        value = request.get(key, NOT_SENT)
        if isinstance(value, dict | list):
            value = str(value)[:60]
        if value != NOT_SENT or key in ("temperature", "max_tokens"):
            record[key] = value
    if event.role:
        record["role"] = event.role
    sent[model] = record


class Budget:
    """A run-wide spending limit (`scheming run --budget USD`): once the estimated cost of the
    run's requests reaches it, samples that have not yet made a request stop at their first
    one (limit hit, kind 'cost'); samples already running finish."""

    def __init__(self) -> None:
        self.limit: float | None = None
        self.spent = 0.0
        self.refused = 0
        self.prices: Any = None

    def set(self, limit: float | None, prices: Any = None) -> None:
        self.limit, self.prices, self.spent, self.refused = limit, prices, 0.0, 0

    def add(self, model: str, usage: Any) -> None:
        if self.limit is None or self.prices is None:
            return
        counts = {
            "input": usage.input_tokens or 0,
            "output": usage.output_tokens or 0,
            "cache_read": usage.input_tokens_cache_read or 0,
            "cache_write": usage.input_tokens_cache_write or 0,
        }
        cost = self.prices.cost(model, counts)
        self.spent += cost or 0.0

    @property
    def spent_out(self) -> bool:
        return self.limit is not None and self.spent >= self.limit


BUDGET = Budget()


class RequestCounter(Hooks):
    async def on_before_model_generate(self, data: BeforeModelGenerate) -> None:
        if not BUDGET.spent_out:
            return
        entry = account()
        if entry is not None and entry.get("requests"):
            return  # a sample already under way finishes
        BUDGET.refused += 1
        from inspect_ai.util import LimitExceededError

        raise LimitExceededError(
            "cost",
            value=BUDGET.spent,
            limit=BUDGET.limit or 0.0,
            message=f"run budget ${BUDGET.limit:.2f} spent (${BUDGET.spent:.2f}): "
            "sample not started",
        )

    async def on_sample_attempt_start(self, data: SampleAttemptStart) -> None:
        if data.attempt > 1:
            _carry_reruns(data.sample_id, data.attempt)

    async def on_sample_end(self, data: SampleEnd) -> None:
        _TALLY.pop(data.sample_id, None)

    async def on_model_usage(self, data: ModelUsageData) -> None:
        _tally(data.model_name, data.usage)
        _bump("requests", data.model_name)
        if data.retries:
            _bump("retries", data.model_name, data.retries)
        _record_sent(data.model_name)
        BUDGET.add(data.model_name, data.usage)


_TALLY: dict[str, dict[str, tuple[ModelUsage, int]]] = {}
"""Per running sample (its uuid, kept across attempts): tokens and requests per model of all
its attempts so far."""


def _tally(model: str, usage: ModelUsage) -> None:
    uuid = _state_uuid()
    if uuid is None:
        return
    per_model = _TALLY.setdefault(uuid, {})
    total, requests = per_model.get(model, (ModelUsage(), 0))
    per_model[model] = (total + usage, requests + 1)


def _carry_reruns(uuid: str, attempt: int) -> None:
    """At the start of a re-run: the earlier attempts' tokens go into this attempt's usage (so
    the log's sample usage, and the cost read from it, is what was paid) and are listed apart."""
    # No public API in inspect-ai 0.3.285 reads or sets the running sample's model usage
    # (`inspect_ai.model` exports only the ModelUsage type).
    from inspect_ai.model._model import (  # inspect-evals-lint: ignore[IECQ001] -- see above
        sample_model_usage,
        set_model_usage,
    )

    earlier = _TALLY.get(uuid, {})
    entry = account()
    if entry is None:
        return
    usage = sample_model_usage()
    record: dict[str, Any] = {}
    for model, (total, requests) in earlier.items():
        set_model_usage(model, ModelUsage() + total, usage)
        _bump("requests", model, requests)
        if len(record) < MAX_MODELS:
            record[model] = {
                "requests": requests,
                "input": total.input_tokens,
                "output": total.output_tokens,
            }
            extra = {
                "cache_read": total.input_tokens_cache_read,
                "cache_write": total.input_tokens_cache_write,
                "reasoning": total.reasoning_tokens,
            }
            record[model].update({k: v for k, v in extra.items() if v})  # priced apart
    entry["reruns"] = {"attempts": attempt - 1, "usage": record}


_registered: list[bool] = []


def ensure_counter() -> None:
    """Register the request counter with inspect's hooks, once per process, from inside the
    first sample: registered at import, inspect would print a hooks banner on stdout at start-up
    (it lists the hooks present then); registered later, it is found on the next emission."""
    if not _registered:
        _registered.append(True)
        hooks(name="scheming-accounting", description="Counts model requests per sample.")(
            RequestCounter
        )


__all__ = ["ACCOUNT_KEY", "BUDGET", "RequestCounter", "account", "ensure_counter"]
