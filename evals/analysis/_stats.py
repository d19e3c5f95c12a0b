"""Interval estimates and exact tests for proportions, with no dependency beyond the stdlib.

- `wilson_interval`: Wilson score interval for one proportion (the interval used in reports).
- `newcombe_interval`: Newcombe's hybrid score interval (method 10) for a difference of two
  independent proportions, built from Wilson intervals.
- `fisher_greater`: one-sided Fisher exact test that the first proportion is greater, i.e. the
  upper tail of the hypergeometric distribution. Exact rational arithmetic for tables up to
  `EXACT_LIMIT` samples; above that, the same tail summed in floating point from a log-space
  starting term (relative error around 1e-10, far below any threshold it is compared with).
"""

from __future__ import annotations

import math
from fractions import Fraction
from statistics import NormalDist

EXACT_LIMIT = 4000
"""Tables with at most this many samples in total get an exact rational p-value."""


def z_value(confidence: float, two_sided: bool = True) -> float:
    """The standard normal quantile for a `confidence` level (e.g. 1.96 for 0.95 two-sided)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    tail = (1.0 - confidence) / 2.0 if two_sided else 1.0 - confidence
    return NormalDist().inv_cdf(1.0 - tail)


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval for `k` successes out of `n`; None when `n` is 0."""
    _check_counts(k, n)
    if n == 0:
        return None
    z = z_value(confidence)
    return _wilson(k, n, z)


def _wilson(k: int, n: int, z: float) -> tuple[float, float]:
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n)) / denom
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def newcombe_interval(
    k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95, two_sided: bool = True
) -> tuple[float, float] | None:
    """Interval for p1 - p2 (Newcombe's hybrid score method); None if either `n` is 0.

    With `two_sided=False` each bound is a one-sided bound at `confidence` (so the lower bound
    is the one to compare with a margin in a one-sided test).
    """
    _check_counts(k1, n1)
    _check_counts(k2, n2)
    if n1 == 0 or n2 == 0:
        return None
    z = z_value(confidence, two_sided=two_sided)
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = _wilson(k1, n1, z)
    l2, u2 = _wilson(k2, n2, z)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return max(-1.0, low), min(1.0, high)


def fisher_greater(k1: int, n1: int, k2: int, n2: int) -> float:
    """One-sided Fisher exact p-value for H1: p1 > p2 (`k1`/`n1` against `k2`/`n2`).

    The p-value is P(X >= k1) for X hypergeometric: `n1` draws from `n1 + n2` items of which
    `k1 + k2` are successes. It equals R's `fisher.test(matrix(c(k1, k2, n1-k1, n2-k2), 2),
    alternative = "greater")`.
    """
    _check_counts(k1, n1)
    _check_counts(k2, n2)
    total = n1 + n2
    successes = k1 + k2
    if k1 <= max(0, successes - n2):
        return 1.0
    if total <= EXACT_LIMIT:
        return float(_exact_upper_tail(k1, n1, successes, total))
    return _float_upper_tail(k1, n1, successes, total)


def hypergeom_upper_tail_exact(k: int, draws: int, successes: int, total: int) -> Fraction:
    """P(X >= k) as an exact fraction, X ~ Hypergeometric(total, successes, draws)."""
    if not 0 <= draws <= total or not 0 <= successes <= total:
        raise ValueError("invalid hypergeometric parameters")
    return _exact_upper_tail(k, draws, successes, total)


def _exact_upper_tail(k: int, draws: int, successes: int, total: int) -> Fraction:
    failures = total - successes
    high = min(successes, draws)
    numerator = sum(
        math.comb(successes, x) * math.comb(failures, draws - x) for x in range(max(k, 0), high + 1)
    )
    return Fraction(numerator, math.comb(total, draws))


def _log_pmf(x: int, draws: int, successes: int, total: int) -> float:
    failures = total - successes
    return _log_comb(successes, x) + _log_comb(failures, draws - x) - _log_comb(total, draws)


def _log_comb(n: int, r: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(r + 1) - math.lgamma(n - r + 1)


def _float_upper_tail(k: int, draws: int, successes: int, total: int) -> float:
    failures = total - successes
    low = max(0, draws - failures)
    high = min(successes, draws)
    mode = int((draws + 1) * (successes + 1) / (total + 2))
    if k > mode:
        # sum the upper tail upwards from k; terms only shrink
        return min(1.0, _sum_terms(k, high, +1, draws, successes, total))
    # the upper tail holds most of the mass: 1 - P(X <= k - 1), summed downwards
    lower = _sum_terms(k - 1, low, -1, draws, successes, total)
    return min(1.0, max(0.0, 1.0 - lower))


def _sum_terms(start: int, stop: int, step: int, draws: int, successes: int, total: int) -> float:
    failures = total - successes
    term = math.exp(_log_pmf(start, draws, successes, total))
    acc = term
    x = start
    while x != stop and term > 0.0:
        if step > 0:
            term *= (successes - x) * (draws - x) / ((x + 1) * (failures - draws + x + 1))
        else:
            term *= x * (failures - draws + x) / ((successes - x + 1) * (draws - x + 1))
        x += step
        acc += term
        if term < acc * 1e-17:
            break
    return acc


def _check_counts(k: int, n: int) -> None:
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"invalid count {k} of {n}")
