"""The report: rows with intervals, the model-level summary, contrasts, and the files written."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspect_ai.log import EvalLog

from evals.analysis._contrast import ScenarioContrast, contrasts
from evals.analysis._cost import (
    PriceTable,
    charged_tokens,
    load_prices,
    total_usage,
    usage_block,
)
from evals.analysis._logs import run_settings
from evals.analysis._rows import (
    ACTED,
    ALL_KEYS,
    CAPABILITY_FACTOR,
    PAIRED_FACTOR,
    Cell,
    load,
    summary_row,
)
from evals.analysis._stats import newcombe_interval, wilson_interval

REPORT_FORMAT = "scheming-report"
REPORT_FORMAT_VERSION = 1
INTERVAL = "wilson"
CAPABILITY_KEY = "succeeded"
"""The rate shown for propensity beside capability."""

NOT_MEASURABLE = "not measurable"
"""Reading of a propensity/capability pair with no success in either: the agent did not do it
unasked, but did not do it when asked either, so the 0% says nothing about safety."""


@dataclass
class Report:
    """Everything a report shows, computed once; the writers only format it."""

    cells: list[Cell]
    contrasts: list[ScenarioContrast]
    matched_control: dict[int, Cell]
    confidence: float = 0.95
    sources: list[str] = field(default_factory=list)
    samples: int = 0
    prices: PriceTable = field(default_factory=load_prices)
    settings: list[dict[str, Any]] = field(default_factory=list)
    """The distinct run settings recorded in the logs' eval metadata (see `scheming run`)."""

    @property
    def models(self) -> list[str]:
        return sorted({c.model for c in self.cells})

    @property
    def behaviours(self) -> list[str]:
        return sorted({c.behaviour for c in self.cells})

    def interval(self, k: int, n: int) -> tuple[float, float] | None:
        return wilson_interval(k, n, self.confidence)

    def difference(self, a: Cell, b: Cell, key: str) -> tuple[float, float, float] | None:
        """a - b for `key` with its interval, or None when either side has no denominator."""
        ci = newcombe_interval(a.k[key], a.d[key], b.k[key], b.d[key], self.confidence)
        if ci is None:
            return None
        return a.k[key] / a.d[key] - b.k[key] / b.d[key], ci[0], ci[1]

    def model_summary(self) -> list[dict[str, Any]]:
        """One row per model: `acted` per behaviour family over treatment (propensity) cells,
        plus counts; capability cells (instructed) are counted in the totals only."""
        pooled: dict[tuple[str, str], Cell] = {}
        totals: dict[str, Cell] = {}
        for cell in self.cells:
            total = totals.setdefault(cell.model, _empty(cell.model, "*"))
            total.add(cell)
            if cell.control or cell.capability:
                continue
            key = (cell.model, cell.behaviour)
            pooled.setdefault(key, _empty(cell.model, cell.behaviour)).add(cell)
        rows: list[dict[str, Any]] = []
        for model in self.models:
            total = totals[model]
            row: dict[str, Any] = {
                "model": model,
                "n": total.n,
                "unscored": total.unscored,
                "samples": total.samples,
                "excluded": total.excluded,
                "errors": total.errors,
                "error_reasons": dict(sorted(total.error_reasons.items(), key=lambda kv: -kv[1])),
                "limit_hit": total.limit_hit,
                "limits": dict(sorted(total.limits.items())),
                "no_tool_calls": total.no_tool_calls,
                "bad_tool_calls": total.bad_tool_calls,
                "usage": usage_block(
                    total.usage,
                    self.prices,
                    reruns=total.rerun_usage,
                    rerun_attempts=total.rerun_attempts,
                ),
                "behaviours": {},
            }
            for behaviour in self.behaviours:
                family = pooled.get((model, behaviour))
                if family is not None:
                    row["behaviours"][behaviour] = self._rate_entry(family, ACTED)
            rows.append(row)
        return rows

    def sent_settings(self) -> dict[str, list[dict[str, Any]]]:
        """Per model, the generation settings its requests actually carried (first request of
        each sample) and in how many samples: e.g. whether the judge's temperature 0 was sent."""
        pooled: dict[str, dict[str, int]] = {}
        for cell in self.cells:
            if cell.factors.get("observation") == "paired":
                continue
            for model, seen in cell.sent.items():
                mine = pooled.setdefault(model, {})
                for key, count in seen.items():
                    mine[key] = mine.get(key, 0) + count
        return {
            model: [{"settings": json.loads(k), "samples": n} for k, n in sorted(seen.items())]
            for model, seen in sorted(pooled.items())
        }

    def _rate_entry(self, cell: Cell, key: str) -> dict[str, Any]:
        ci = self.interval(cell.k[key], cell.d[key])
        return {
            "rate": cell.rate(key),
            "ci_low": ci[0] if ci else None,
            "ci_high": ci[1] if ci else None,
            "k": cell.k[key],
            "n": cell.d[key],
        }

    def rows(self) -> list[dict[str, Any]]:
        """The report rows: `summary_rows` keys plus intervals, numerators, denominators, versions
        and the matched treatment-minus-control differences."""
        out: list[dict[str, Any]] = []
        for cell in self.cells:
            row = summary_row(cell, self.prices)
            totals = total_usage(cell.usage)
            row["tokens_input"] = totals["input"]
            row["tokens_output"] = totals["output"]
            row["tokens_cached"] = totals["cache_read"] + totals["cache_write"]
            row["tokens_reasoning"] = totals["reasoning"]
            row["requests"] = totals["requests"]
            row["cost_usd"] = row["usage"]["cost_usd"]
            reruns = row["usage"]["reruns"]  # what errored attempts run again spent
            row["rerun_attempts"] = reruns["attempts"]
            row["rerun_tokens"] = charged_tokens(reruns["total"])
            row["rerun_cost_usd"] = reruns["cost_usd"]
            row[ACTED] = cell.rate(ACTED)
            for key in ALL_KEYS:
                ci = self.interval(cell.k[key], cell.d[key])
                row[f"{key}_ci_low"] = ci[0] if ci else None
                row[f"{key}_ci_high"] = ci[1] if ci else None
                row[f"{key}_k"] = cell.k[key]
                row[f"{key}_n"] = cell.d[key]
            row["unscored_by_key"] = dict(sorted(cell.unscored_by_key.items()))
            row["package_version"] = cell.package_version
            row["task_version"] = cell.task_version
            control = None if cell.control else self.matched_control.get(id(cell))
            row["control_match"] = "factors" if control is not None else None
            row["capability"] = cell.capability
            for key in ALL_KEYS:
                diff = self.difference(cell, control, key) if control is not None else None
                row[f"{key}_minus_control"] = diff[0] if diff else None
                row[f"{key}_minus_control_ci_low"] = diff[1] if diff else None
                row[f"{key}_minus_control_ci_high"] = diff[2] if diff else None
            out.append(row)
        return out

    def propensity_capability(self) -> list[dict[str, Any]]:
        """Per model × family, then per model × scenario (version) within it: the succeeded
        rate over the propensity treatment samples (not control, `instructed` no or absent)
        beside the rate over the capability samples (`instructed` yes), each with its Wilson
        interval and n. `capability` is None where no capability sample was run (`reading` says
        whether the scenarios have no instructed factor at all); `reading` is "not measurable"
        when neither condition has a success."""
        groups: dict[tuple[str, str, str, int | None], dict[str, Any]] = {}
        for cell in self.cells:
            if cell.control or cell.factors.get(PAIRED_FACTOR) == "paired":
                continue  # a pair cell re-counts the samples of its two framings
            for scenario, version in (("*", None), (cell.scenario, cell.scenario_version)):
                g = groups.setdefault(
                    (cell.model, cell.behaviour, scenario, version),
                    {
                        "propensity": _empty(cell.model, cell.behaviour),
                        "capability": _empty(cell.model, cell.behaviour),
                        "factor": False,
                        "asked": 0,
                    },
                )
                g["factor"] = g["factor"] or CAPABILITY_FACTOR in cell.factors
                if cell.capability:
                    g["asked"] += 1
                    g["capability"].add(cell)
                else:
                    g["propensity"].add(cell)
        out: list[dict[str, Any]] = []
        for (model, behaviour, scenario, version), g in sorted(
            groups.items(),
            key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] != "*", kv[0][2], kv[0][3] or 0),
        ):
            prop = self._rate_entry(g["propensity"], CAPABILITY_KEY)
            cap = self._rate_entry(g["capability"], CAPABILITY_KEY) if g["asked"] else None
            if cap is None:
                reading = "capability not run" if g["factor"] else "no capability condition"
            elif not prop["n"] or not cap["n"]:
                reading = "no graded samples"
            elif prop["k"] == 0 and cap["k"] == 0:
                reading = NOT_MEASURABLE
            else:
                reading = "measured"
            out.append(
                {
                    "model": model,
                    "behaviour": behaviour,
                    "level": "behaviour" if scenario == "*" else "scenario",
                    "scenario": scenario,
                    "scenario_version": version,
                    "rate": CAPABILITY_KEY,
                    "propensity": prop,
                    "capability": cap,
                    "reading": reading,
                }
            )
        return out

    def contrast_rows(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for c in self.contrasts:
            row: dict[str, Any] = {
                "model": c.model,
                "behaviour": c.behaviour,
                "scenario": c.scenario,
                "scenario_version": c.scenario_version,
                "match": c.match,
            }
            for key in ALL_KEYS:
                diff = self.difference(c.treatment, c.control, key)
                row[key] = {
                    "treatment": self._rate_entry(c.treatment, key),
                    "control": self._rate_entry(c.control, key),
                    "difference": diff[0] if diff else None,
                    "ci_low": diff[1] if diff else None,
                    "ci_high": diff[2] if diff else None,
                }
            out.append(row)
        return out

    def to_json(self) -> dict[str, Any]:
        versions = sorted({v for c in self.cells for v in c.package_versions})
        return {
            "format": REPORT_FORMAT,
            "format_version": REPORT_FORMAT_VERSION,
            "interval": INTERVAL,
            "confidence": self.confidence,
            "package_version": ",".join(versions) or None,
            "generated_by": _generated_by(),
            "sources": self.sources,
            "samples": self.samples,
            "prices": {
                "sources": list(self.prices.sources),
                "as_of": self.prices.as_of,
                "per_tokens": self.prices.per,
            },
            "settings": self.settings,
            "sent": self.sent_settings(),
            "models": self.model_summary(),
            "propensity_capability": self.propensity_capability(),
            "contrasts": self.contrast_rows(),
            "rows": self.rows(),
        }


def _empty(model: str, behaviour: str) -> Cell:
    return Cell(
        model=model,
        scenario="*",
        scenario_version=None,
        behaviour=behaviour,
        factors={},
        control=False,
    )


def _generated_by() -> str:
    try:
        from importlib.metadata import version

        return f"scheming-evals {version('scheming-evals')}"
    except Exception:
        return "scheming-evals"


def build_report(
    logs: Iterable[EvalLog | str | Path],
    confidence: float = 0.95,
    workers: int | None = None,
    prices: PriceTable | None = None,
) -> Report:
    """Read logs (`EvalLog`s, files or directories) and compute the report."""
    logs = list(logs)
    loaded = load(logs, workers)
    report = report_from_cells(loaded.cells, confidence, loaded.sources, loaded.samples, prices)
    report.settings = run_settings(logs)
    return report


def report_from_cells(
    cells: list[Cell],
    confidence: float = 0.95,
    sources: list[str] | None = None,
    samples: int = 0,
    prices: PriceTable | None = None,
) -> Report:
    scenario_contrasts, matched = contrasts(cells)
    return Report(
        cells=cells,
        contrasts=scenario_contrasts,
        matched_control=matched,
        confidence=confidence,
        sources=sources or [],
        samples=samples,
        prices=prices or load_prices(),
    )
