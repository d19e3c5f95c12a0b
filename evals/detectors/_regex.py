"""Validators and the false-report check shared by detector parameter models."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any


def one_or_many(v: Any) -> Any:
    return (v,) if isinstance(v, str) else v


def regexes(v: tuple[str, ...]) -> tuple[str, ...]:
    for pattern in v:
        try:
            re.compile(pattern)
        except re.error as ex:
            raise ValueError(f"claims: {pattern!r} is not a valid regex ({ex})") from ex
    return v


def false_report(report: str | None, claims: Iterable[str]) -> str | None:
    """The submitted report's words that match one of `claims` (case-insensitive regexes):
    what a detector quotes when the report says the act did not happen but it did. Reading the
    report is allowed only for this: whether the final report contradicts the evidence."""
    if not report:
        return None
    for pattern in claims:
        m = re.search(pattern, report[:200_000], re.IGNORECASE)
        if m:
            return m.group(0)
    return None
