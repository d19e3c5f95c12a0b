"""Tokens and estimated cost: a price table kept as data (prices.yaml, overridable with a file).

Usage per model is a dict of counts: input (uncached), output, cache_read, cache_write,
reasoning (part of output, shown apart, never charged twice) and requests.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

PRICES_FILE = Path(__file__).parent / "prices.yaml"
USAGE_KEYS: tuple[str, ...] = (
    "input",
    "output",
    "cache_read",
    "cache_write",
    "reasoning",
    "requests",
)
CHARGED: tuple[str, ...] = ("input", "cache_read", "cache_write", "output")


class PriceError(Exception):
    """A price file that cannot be used (one line)."""


@dataclass(frozen=True)
class Price:
    match: str
    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None

    def rate(self, key: str) -> float:
        value = getattr(self, key)
        return float(value) if value is not None else float(self.input)


@dataclass(frozen=True)
class PriceTable:
    prices: tuple[Price, ...]
    per: float = 1_000_000
    as_of: str | None = None
    sources: tuple[str, ...] = ()

    def price(self, model: str) -> Price | None:
        for p in self.prices:
            if fnmatch.fnmatchcase(model, p.match) or fnmatch.fnmatchcase(
                model.split("/", 1)[-1], p.match
            ):
                return p
        return None

    def cost(self, model: str, usage: Mapping[str, int]) -> float | None:
        """Estimated dollars for `usage` of `model`, or None when the table has no price."""
        p = self.price(model)
        if p is None:
            return None
        return sum(int(usage.get(k, 0) or 0) * p.rate(k) for k in CHARGED) / self.per


def _parse(data: Any, where: str) -> tuple[list[Price], float, str | None]:
    if not isinstance(data, Mapping) or not isinstance(data.get("models"), list):
        raise PriceError(f"{where}: expected a mapping with a 'models' list")
    out: list[Price] = []
    for i, entry in enumerate(data["models"]):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("match"), str):
            raise PriceError(f"{where}: models[{i}]: expected {{match: GLOB, input: $, output: $}}")
        unknown = set(entry) - {"match", "input", "output", "cache_read", "cache_write"}
        if unknown:
            raise PriceError(f"{where}: models[{i}]: unknown key(s) {', '.join(sorted(unknown))}")
        values: dict[str, float | None] = {}
        for key in ("input", "output", "cache_read", "cache_write"):
            v = entry.get(key)
            if v is None and key in ("input", "output"):
                raise PriceError(f"{where}: models[{i}] ({entry['match']}): '{key}' is required")
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, int | float) or v < 0 or v > 1e6
            ):
                raise PriceError(f"{where}: models[{i}] ({entry['match']}): bad {key} {v!r}")
            values[key] = float(v) if v is not None else None
        out.append(
            Price(
                match=entry["match"],
                input=values["input"] or 0.0,
                output=values["output"] or 0.0,
                cache_read=values["cache_read"],
                cache_write=values["cache_write"],
            )
        )
    per = data.get("per", 1_000_000)
    if isinstance(per, bool) or not isinstance(per, int | float) or per <= 0:
        raise PriceError(f"{where}: bad 'per' {per!r}")
    as_of = data.get("as_of")
    return out, float(per), str(as_of) if as_of is not None else None


def _read(path: Path) -> Any:
    from evals.scenario import UntrustedDataError, load_untrusted

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as ex:
        raise PriceError(f"{path}: cannot read ({ex.strerror or ex})") from None
    try:
        return load_untrusted(text)
    except UntrustedDataError as ex:
        raise PriceError(f"{path}: {ex}") from None


@cache
def _default() -> PriceTable:
    prices, per, as_of = _parse(_read(PRICES_FILE), str(PRICES_FILE))
    return PriceTable(tuple(prices), per, as_of, (str(PRICES_FILE),))


def load_prices(override: str | Path | None = None) -> PriceTable:
    """The packaged table, with `override`'s entries tried first (its own `per` applies to them
    by converting to the packaged unit)."""
    base = _default()
    if override is None:
        return base
    path = Path(override)
    prices, per, as_of = _parse(_read(path), str(path))
    scale = base.per / per
    scaled = [
        Price(
            match=p.match,
            input=p.input * scale,
            output=p.output * scale,
            cache_read=p.cache_read * scale if p.cache_read is not None else None,
            cache_write=p.cache_write * scale if p.cache_write is not None else None,
        )
        for p in prices
    ]
    return PriceTable(
        (*scaled, *base.prices), base.per, as_of or base.as_of, (str(path), *base.sources)
    )


def add_usage(into: dict[str, dict[str, int]], usage: Mapping[str, Mapping[str, int]]) -> None:
    for model, counts in usage.items():
        slot = into.setdefault(model, dict.fromkeys(USAGE_KEYS, 0))
        for key in USAGE_KEYS:
            slot[key] += int(counts.get(key, 0) or 0)


def total_usage(usage: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    out = dict.fromkeys(USAGE_KEYS, 0)
    for counts in usage.values():
        for key in USAGE_KEYS:
            out[key] += int(counts.get(key, 0) or 0)
    return out


def usage_cost(
    usage: Mapping[str, Mapping[str, int]], table: PriceTable | None = None
) -> tuple[float | None, list[str]]:
    """(estimated dollars for the models that have a price, models without one). None when no
    model that used tokens has a price."""
    table = table or _default()
    total: float | None = None
    unpriced: list[str] = []
    for model, counts in usage.items():
        c = table.cost(model, counts)
        if c is None:
            if any(counts.get(k) for k in CHARGED):
                unpriced.append(model)
            continue
        total = (total or 0.0) + c
    return total, unpriced


def usage_block(
    usage: Mapping[str, Mapping[str, int]],
    table: PriceTable | None = None,
    *,
    reruns: Mapping[str, Mapping[str, int]] | None = None,
    rerun_attempts: int = 0,
) -> dict[str, Any]:
    """The JSON form of a usage dict: per model counts and cost, totals, unpriced models; and
    under `reruns` the same for the part of it spent by attempts that errored and were run
    again (`--retry-on-error`), with how many such attempts: what errors cost (already in the
    totals, shown apart)."""
    block = _block(usage, table or _default())
    block["reruns"] = {"attempts": rerun_attempts, **_block(reruns or {}, table or _default())}
    return block


def _block(usage: Mapping[str, Mapping[str, int]], table: PriceTable) -> dict[str, Any]:
    models: dict[str, Any] = {}
    for model in sorted(usage):
        counts = {k: int(usage[model].get(k, 0) or 0) for k in USAGE_KEYS}
        models[model] = {**counts, "cost_usd": _round(table.cost(model, counts))}
    cost, unpriced = usage_cost(usage, table)
    return {
        "models": models,
        "total": total_usage(usage),
        "cost_usd": _round(cost),
        "unpriced": unpriced,
    }


def charged_tokens(counts: Mapping[str, Any]) -> int:
    """Input + cached + output tokens of a usage total (what is charged)."""
    return sum(int(counts.get(k, 0) or 0) for k in CHARGED)


def _round(value: float | None) -> float | None:
    return round(value, 6) if value is not None else None


def fmt_tokens(n: int) -> str:
    if n >= 10_000_000:
        return f"{n / 1e6:.0f}M"
    if n >= 1_000_000:
        return f"{n / 1e6:.1f}M"
    if n >= 10_000:
        return f"{n / 1e3:.0f}k"
    if n >= 1_000:
        return f"{n / 1e3:.1f}k"
    return str(n)


def fmt_cost(cost: float | None, unpriced: Iterable[str] = ()) -> str:
    if cost is None:
        return "-"
    text = f"${cost:.2f}" if cost >= 0.995 or cost == 0 else f"${cost:.4f}"
    return text + ("+?" if list(unpriced) else "")
