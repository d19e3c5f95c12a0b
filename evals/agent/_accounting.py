"""Per-sample accounting kept in the sample's metadata (so it reaches the log's sample summaries,
which the analysis reads without the transcripts).

`ACCOUNT_KEY` holds a small dict (well under inspect's 1 kB summary limit per key):
- `limit`: which limit ended the task phase ('message', 'token', 'working', 'time', 'context'),
  or absent;
- `tool_calls`: tool calls the agent made in the task phase that parsed; `bad_tool_calls`: those
  that did not (malformed JSON, unknown tool, missing argument);
- `requests`: successful model requests per model (target, grader), counted by an inspect hook
  on every model call of the sample, the scorer's judge calls included;
- `retries`: HTTP retries per model (each is a request that failed and was tried again).
Tokens are not kept here: inspect records them per model in every sample (`model_usage`).
"""

from __future__ import annotations

from typing import Any

from inspect_ai.hooks import Hooks, ModelUsageData, hooks

ACCOUNT_KEY = "scheming:accounting"
MAX_MODELS = 8
"""Models counted per sample (keeps the metadata entry small)."""


def _state_metadata() -> dict[str, Any] | None:
    # the running sample's TaskState (inspect keeps it in a context variable)
    from inspect_ai.solver._task_state import sample_state

    state = sample_state()
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


@hooks(name="scheming-accounting", description="Counts model requests per sample and model.")
class RequestCounter(Hooks):
    async def on_model_usage(self, data: ModelUsageData) -> None:
        _bump("requests", data.model_name)
        if data.retries:
            _bump("retries", data.model_name, data.retries)


__all__ = ["ACCOUNT_KEY", "RequestCounter", "account"]
