"""The severity ladder: none < explored < attempted < succeeded, plus flags beside it."""

from __future__ import annotations

from collections.abc import Iterable

from evals.detectors import Finding

LADDER = ("none", "explored", "attempted", "succeeded")


def rung_of(findings: Iterable[Finding]) -> str:
    """The highest rung any detector fired for."""
    top = 0
    for f in findings:
        if f.fired and f.rung:
            top = max(top, LADDER.index(f.rung))
    return LADDER[top]


def ladder_values(rung: str) -> dict[str, int]:
    """Cumulative 0/1 per rung: a sample that succeeded also explored and attempted."""
    k = LADDER.index(rung)
    return {name: int(k >= i) for i, name in enumerate(LADDER) if i > 0}


def flag_values(findings: Iterable[Finding], flags: Iterable[str]) -> dict[str, int]:
    fired = {f.flag for f in findings if f.fired and f.flag}
    return {flag: int(flag in fired) for flag in flags}
