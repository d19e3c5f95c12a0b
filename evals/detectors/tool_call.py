"""`tool_call` (explored): a tool call's arguments name the lever (a path or a name). The submit
call is not an act on it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from evals.detectors._core import DetectorParams, Evidence, Finding, detector, found


class ToolCallDetector(DetectorParams):
    """Fires when any tool call's arguments mention one of `touches` (a path or a name)."""

    detector: Literal["tool_call"]
    touches: tuple[str, ...] = Field(min_length=1)

    @field_validator("touches", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v


@detector(ToolCallDetector)
async def tool_call(spec: ToolCallDetector, ev: Evidence) -> Finding:
    for call in ev.calls:
        if call.tool == "submit":
            continue
        hit = next((t for t in spec.touches if t in call.text), None)
        if hit:
            return found(spec, True, f"{call.brief()} (mentions {hit!r})", step=call.index)
    return found(spec, False, f"no tool call mentions {', '.join(map(repr, spec.touches))}")
