from __future__ import annotations

import math
from fractions import Fraction
from itertools import combinations

import pytest

from evals.analysis import fisher_greater, newcombe_interval, wilson_interval
from evals.analysis._stats import (
    _float_upper_tail,
    hypergeom_upper_tail_exact,
    z_value,
)


def _ci(interval: tuple[float, float] | None) -> tuple[float, float]:
    assert interval is not None
    return interval


def test_wilson_known_values() -> None:
    # Newcombe (1998), Table I: 81/263 -> 0.2553 to 0.3662; 15/148 -> 0.0624 to 0.1605
    low, high = _ci(wilson_interval(81, 263))
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    low, high = _ci(wilson_interval(15, 148))
    assert (round(low, 4), round(high, 4)) == (0.0624, 0.1605)


def test_wilson_edges() -> None:
    assert wilson_interval(0, 0) is None
    low, high = _ci(wilson_interval(0, 10))
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = _ci(wilson_interval(10, 10))
    assert high == 1.0 and low == pytest.approx(0.7225, abs=1e-4)
    low, high = _ci(wilson_interval(1, 1))
    assert low == pytest.approx(1 / (1 + z_value(0.95) ** 2))
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_newcombe_known_value() -> None:
    # Newcombe (1998), Table II, example (a): 56/70 - 48/80 -> +0.0524 to +0.3339 (method 10)
    low, high = _ci(newcombe_interval(56, 70, 48, 80))
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    assert newcombe_interval(1, 2, 0, 0) is None


def test_fisher_known_values() -> None:
    # R: fisher.test(matrix(c(3, 1, 1, 3), 2), alternative = "greater") -> 0.2429 (= 17/70)
    assert fisher_greater(3, 4, 1, 4) == pytest.approx(17 / 70, rel=1e-12)
    # R: Convictions <- matrix(c(2, 10, 15, 3), 2); fisher.test(Convictions, alt = "less")
    # -> p = 0.0004652; "less" for the first column is "greater" for the second
    assert fisher_greater(15, 17, 3, 13) == pytest.approx(0.0004652, abs=5e-8)
    # all against none: 1 / C(2n, n)
    assert fisher_greater(4, 4, 0, 4) == pytest.approx(1 / 70, rel=1e-12)
    assert fisher_greater(10, 10, 0, 10) == pytest.approx(1 / math.comb(20, 10), rel=1e-12)
    # no evidence of an increase
    assert fisher_greater(0, 5, 5, 5) == 1.0
    assert fisher_greater(2, 4, 2, 4) == pytest.approx(1 - 1 / 70 - 16 / 70, rel=1e-12)


def _brute_force(k1: int, n1: int, k2: int, n2: int) -> Fraction:
    """P(X >= k1) by enumerating every way to choose the first group's n1 items."""
    items = [1] * (k1 + k2) + [0] * (n1 + n2 - k1 - k2)
    hits = total = 0
    for chosen in combinations(range(len(items)), n1):
        total += 1
        hits += sum(items[i] for i in chosen) >= k1
    return Fraction(hits, total)


@pytest.mark.parametrize("table", [(2, 5, 0, 4), (3, 6, 1, 6), (1, 3, 2, 7), (5, 6, 2, 6)])
def test_fisher_matches_enumeration(table: tuple[int, int, int, int]) -> None:
    k1, n1, k2, n2 = table
    expected = _brute_force(k1, n1, k2, n2)
    assert hypergeom_upper_tail_exact(k1, n1, k1 + k2, n1 + n2) == expected
    assert fisher_greater(*table) == pytest.approx(float(expected), rel=1e-12)


@pytest.mark.parametrize(
    "table",
    [
        (30, 100, 20, 100),
        (520, 1000, 480, 1000),
        (10, 3000, 2, 3000),
        (1500, 3000, 1400, 3000),
        (1, 2500, 0, 2500),
        (40, 2000, 80, 2000),
    ],
)
def test_float_tail_agrees_with_exact(table: tuple[int, int, int, int]) -> None:
    k1, n1, k2, n2 = table
    exact = float(hypergeom_upper_tail_exact(k1, n1, k1 + k2, n1 + n2))
    assert _float_upper_tail(k1, n1, k1 + k2, n1 + n2) == pytest.approx(exact, rel=1e-8)


def test_fisher_large_tables_are_fast_and_sane() -> None:
    p_same = fisher_greater(50_000, 100_000, 50_000, 100_000)
    assert 0.4 < p_same < 0.6
    p_more = fisher_greater(51_000, 100_000, 50_000, 100_000)
    assert p_more < 1e-5
