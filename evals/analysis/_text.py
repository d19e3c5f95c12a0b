"""Plain-text renderings: the terminal table, Markdown (README.md) and LaTeX (table.tex)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from evals.analysis._cost import (
    USAGE_KEYS,
    add_usage,
    charged_tokens,
    fmt_cost,
    fmt_tokens,
    load_prices,
    usage_cost,
)
from evals.analysis._rows import ACTED, RATE_KEYS, factors_label

if TYPE_CHECKING:
    from evals.analysis._plots import Plot
    from evals.analysis._report import Report

SHORT: dict[str, str] = {
    "explored": "expl",
    "attempted": "att",
    "succeeded": "succ",
    "concealed": "conc",
    "confessed": "conf",
    "denied": "deny",
    "evaded": "evad",
    "eval_aware": "aware",
    "faked": "faked",
}

RATE_HEADERS: dict[str, str] = {
    "explored": "explored",
    "attempted": "attempted",
    "succeeded": "succeeded",
    "concealed": "concealed",
    "confessed": "confessed",
    "denied": "denied",
    "evaded": "evaded",
    "eval_aware": "eval-aware",
    "faked": "faked (paired)",
    ACTED: "acted",
}


def fmt_rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.2f}"


def fmt_rate_ci(rate: float | None, low: float | None, high: float | None) -> str:
    if rate is None:
        return "-"
    if low is None or high is None:
        return f"{rate:.2f}"
    return f"{rate:.2f} [{low:.2f}, {high:.2f}]"


def fmt_diff_ci(diff: float | None, low: float | None, high: float | None) -> str:
    if diff is None or low is None or high is None:
        return "-"
    return f"{diff:+.2f} [{low:+.2f}, {high:+.2f}]"


LIMIT_SHORT = {
    "message": "msg",
    "token": "tok",
    "working": "work",
    "time": "time",
    "cost": "budget",
    "context": "ctx",
}


def fmt_limits(limits: dict[str, int] | None, total: int) -> str:
    """`2 (msg 1, ctx 1)`; `0` when none."""
    if not total:
        return "0"
    parts = [f"{LIMIT_SHORT.get(k, k)} {v}" for k, v in sorted((limits or {}).items())]
    return f"{total} ({', '.join(parts)})" if parts else str(total)


def _row_usage(r: dict[str, Any]) -> tuple[str, str, str, str]:
    """(tokens in+out, requests, cost, re-runs) of a row's usage block: re-runs are the tokens
    and cost of attempts that errored and were run again (part of the totals), `0` if none."""
    u = r.get("usage") or {}
    total = u.get("total") or {}
    return (
        fmt_tokens(charged_tokens(total)),
        str(int(total.get("requests", 0) or 0)),
        fmt_cost(u.get("cost_usd"), u.get("unpriced") or ()),
        _fmt_reruns(u.get("reruns") or {}),
    )


def _fmt_reruns(reruns: dict[str, Any]) -> str:
    """`tokens/cost` of the errored attempts run again (no spaces: one cell), `0` if none."""
    tokens = charged_tokens(reruns.get("total") or {})
    if not tokens and not reruns.get("attempts"):
        return "0"
    cost = fmt_cost(reruns.get("cost_usd"), reruns.get("unpriced") or ())
    return f"{fmt_tokens(tokens)}/{cost}"


def pooled_usage(
    rows: Sequence[dict[str, Any]], part: str | None = None
) -> dict[str, dict[str, int]]:
    """Usage per model over `rows`; `part="reruns"`: only what errored attempts spent."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        block = r.get("usage") or {}
        if part is not None:
            block = block.get(part) or {}
        models = block.get("models") or {}
        add_usage(
            out, {m: {k: v for k, v in c.items() if k in USAGE_KEYS} for m, c in models.items()}
        )
    return out


def usage_lines(rows: Sequence[dict[str, Any]], prices: Any = None) -> list[str]:
    """One line per model: tokens by kind, requests and estimated cost, then the total."""
    table = prices or load_prices()
    usage = pooled_usage(rows)
    lines: list[str] = []
    for model in sorted(usage):
        c = usage[model]
        cost = table.cost(model, c)
        lines.append(
            f"  {model}: {fmt_tokens(c['input'])} input, {fmt_tokens(c['output'])} output, "
            f"{fmt_tokens(c['cache_read'] + c['cache_write'])} cached, "
            f"{fmt_tokens(c['reasoning'])} reasoning, {c['requests']} requests, "
            f"{fmt_cost(cost) if cost is not None else 'no price'}"
        )
    if usage:
        cost, unpriced = usage_cost(usage, table)
        note = f" (no price for {', '.join(unpriced)})" if unpriced else ""
        lines.append(f"  estimated cost: {fmt_cost(cost, unpriced)}{note}")
    reruns = pooled_usage(rows, "reruns")
    attempts = sum(
        int(((r.get("usage") or {}).get("reruns") or {}).get("attempts") or 0) for r in rows
    )
    if reruns or attempts:
        cost, unpriced = usage_cost(reruns, table)
        total = {k: sum(c[k] for c in reruns.values()) for k in USAGE_KEYS}
        lines.append(
            f"  of which errored attempts run again (--retry-on-error): {attempts} attempt(s), "
            f"{fmt_tokens(charged_tokens(total))} tokens, {total['requests']} requests, "
            f"{fmt_cost(cost, unpriced)}"
        )
    return lines


def exclusion_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Why samples are not in the rates: errors by reason, limits by kind, no tool call."""
    errors: dict[str, int] = {}
    limits: dict[str, int] = {}
    no_tools = bad_calls = samples = n = 0
    for r in rows:
        if (r.get("factors") or {}).get("observation") == "paired":
            continue  # a pair cell re-counts samples of its two framings
        samples += int(r.get("samples", 0) or 0)
        n += int(r.get("n", 0) or 0)
        for k, v in (r.get("error_reasons") or {}).items():
            errors[k] = errors.get(k, 0) + v
        for k, v in (r.get("limits") or {}).items():
            limits[k] = limits.get(k, 0) + v
        no_tools += int(r.get("no_tool_calls", 0) or 0)
        bad_calls += int(r.get("bad_tool_calls", 0) or 0)
    lines = [
        f"samples: {samples}; graded (in the rates): {n}; "
        f"errored: {sum(errors.values())}; limit hit: {sum(limits.values())}"
    ]
    for reason, count in sorted(errors.items(), key=lambda kv: -kv[1])[:10]:
        lines.append(f"  errored ×{count}: {reason}")
    for kind, count in sorted(limits.items()):
        lines.append(f"  limit hit ×{count}: {kind}")
    if no_tools:
        lines.append(
            f"  agent made no tool call: {no_tools} sample(s) (refusal, empty turns or "
            "only malformed calls)"
        )
    if bad_calls:
        lines.append(f"  malformed tool calls: {bad_calls}")
    return lines


def format_table(rows: Sequence[dict[str, Any]], prices: Any = None) -> str:
    """A plain-text table of `summary_rows` rows for the terminal.

    Columns: model (only when there are several), scenario, factors, n (graded), excl (errored +
    limit hit, not in the rates), one rate per key (`-` where it never applies), unscored,
    errors, limit (by kind), no-tool (samples whose agent made no tool call), tokens, requests,
    cost, rerun tok/cost (tokens and cost of attempts that errored and were run again, part of
    the tokens and cost before it; `0` if none). Then why samples were excluded, tokens and cost
    per model, and the legend.
    """
    if not rows:
        return "(no scheming samples)"
    models = {str(r.get("model")) for r in rows}
    headers: list[str] = []
    if len(models) > 1:
        headers.append("model")
    headers += [
        "scenario",
        "factors",
        "n",
        "excl",
        *(SHORT[k] for k in RATE_KEYS),
        "unscored",
        "errors",
        "limit",
        "no-tool",
        "tokens",
        "req",
        "cost",
        "rerun tok/cost",
    ]
    body: list[list[str]] = []
    for r in rows:
        line: list[str] = []
        if len(models) > 1:
            line.append(str(r.get("model")))
        factors = r.get("factors") or {}
        label = factors_label(factors) if isinstance(factors, dict) else str(factors)
        if r.get("control"):
            label += " (control)"
        line += [str(r.get("scenario")), label, str(r.get("n", 0)), str(r.get("excluded", 0))]
        line += [fmt_rate(r.get(k)) for k in RATE_KEYS]
        line += [
            str(r.get("unscored", 0)),
            str(r.get("errors", 0)),
            fmt_limits(r.get("limits"), int(r.get("limit_hit", 0) or 0)),
            str(r.get("no_tool_calls", 0)),
            *_row_usage(r),
        ]
        body.append(line)
    numeric_from = headers.index("n")
    widths = [max(len(h), *(len(line[i]) for line in body)) for i, h in enumerate(headers)]

    def render(cells: list[str]) -> str:
        parts = [
            c.rjust(widths[i]) if i >= numeric_from else c.ljust(widths[i])
            for i, c in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    lines = [render(headers), render(["-" * w for w in widths])]
    lines += [render(line) for line in body]
    legend = ", ".join(f"{SHORT[k]}={k}" for k in RATE_KEYS)
    lines.append("")
    lines += exclusion_lines(rows)
    usage = usage_lines(rows, prices)
    if usage:
        lines.append("tokens and estimated cost (list prices, see evals/analysis/prices.yaml):")
        lines += usage
    lines.append("")
    lines.append(
        "rates over the graded samples where each key applies and was judged; errored and "
        f"limit-hit samples (excl) are not in them; {legend}"
    )
    return "\n".join(lines)


# --- Markdown ---------------------------------------------------------------------------------


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _md_table(headers: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_md_escape(c) for c in line) + " |" for line in body]
    return "\n".join(lines)


def _of(row: dict[str, Any], key: str) -> str:
    """The rate with its interval, plus its denominator where it differs from n."""
    text = fmt_rate_ci(row.get(key), row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high"))
    if row.get(key) is not None and row.get(f"{key}_n") != row.get("n"):
        text += f" (of {row.get(f'{key}_n')})"
    return text


def summary_table_body(report: Report, data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    headers = [
        "model",
        *report.behaviours,
        "n",
        "excluded",
        "unscored",
        "errors",
        "limit hit",
        "no tool call",
        "tokens",
        "requests",
        "est. cost",
        "errored re-runs (tokens/cost)",
    ]
    body: list[list[str]] = []
    for m in data["models"]:
        line = [m["model"]]
        for behaviour in report.behaviours:
            e = m["behaviours"].get(behaviour)
            if e is None or e["rate"] is None:
                line.append("-")
            else:
                line.append(f"{fmt_rate_ci(e['rate'], e['ci_low'], e['ci_high'])} (n={e['n']})")
        line += [
            str(m["n"]),
            str(m["excluded"]),
            str(m["unscored"]),
            str(m["errors"]),
            fmt_limits(m.get("limits"), m["limit_hit"]),
            str(m["no_tool_calls"]),
            *_row_usage(m),
        ]
        body.append(line)
    return headers, body


def contrast_table_body(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    headers = [
        "model",
        "behaviour",
        "scenario",
        "version",
        "treatment acted",
        "control acted",
        "difference",
        "pairing",
    ]
    body: list[list[str]] = []
    for c in data["contrasts"]:
        a = c[ACTED]
        t, k = a["treatment"], a["control"]
        body.append(
            [
                c["model"],
                c["behaviour"],
                c["scenario"],
                str(c["scenario_version"]),
                f"{fmt_rate_ci(t['rate'], t['ci_low'], t['ci_high'])} ({t['k']}/{t['n']})",
                f"{fmt_rate_ci(k['rate'], k['ci_low'], k['ci_high'])} ({k['k']}/{k['n']})",
                fmt_diff_ci(a["difference"], a["ci_low"], a["ci_high"]),
                c["match"],
            ]
        )
    return headers, body


def _pc_entry(e: dict[str, Any], counts_only: bool) -> str:
    if not e["n"]:
        return "- (n=0)"
    if counts_only:
        return f"{e['k']}/{e['n']}"
    return f"{fmt_rate_ci(e['rate'], e['ci_low'], e['ci_high'])} ({e['k']}/{e['n']})"


def propensity_capability_body(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Per model × family (scenario `*`) and scenario: succeeded unasked beside asked. A pair with
    no success in either shows counts only and reads "not measurable" (never a bare 0)."""
    headers = [
        "model",
        "family",
        "scenario",
        "v",
        "propensity: succeeded, not asked",
        "capability: succeeded, asked (instructed)",
        "reading",
    ]
    body: list[list[str]] = []
    for r in data.get("propensity_capability") or []:
        unmeasured = r["reading"] == "not measurable"
        cap = r["capability"]
        body.append(
            [
                r["model"],
                r["behaviour"],
                r["scenario"],
                "" if r["scenario_version"] is None else str(r["scenario_version"]),
                _pc_entry(r["propensity"], unmeasured),
                "—" if cap is None else _pc_entry(cap, unmeasured),
                r["reading"],
            ]
        )
    return headers, body


def rows_table_body(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    headers = [
        "model",
        "behaviour",
        "scenario",
        "v",
        "factors",
        "n",
        *(RATE_HEADERS[k] for k in RATE_KEYS),
        "acted − control",
        "excluded",
        "unscored",
        "errors",
        "limit hit",
        "no tool call",
        "tokens",
        "requests",
        "est. cost",
        "errored re-runs (tokens/cost)",
    ]
    body: list[list[str]] = []
    for r in data["rows"]:
        label = factors_label(r["factors"]) + (" (control)" if r["control"] else "")
        body.append(
            [
                r["model"],
                r["behaviour"],
                r["scenario"],
                str(r["scenario_version"]),
                label,
                str(r["n"]),
                *(_of(r, k) for k in RATE_KEYS),
                fmt_diff_ci(
                    r[f"{ACTED}_minus_control"],
                    r[f"{ACTED}_minus_control_ci_low"],
                    r[f"{ACTED}_minus_control_ci_high"],
                ),
                str(r["excluded"]),
                str(r["unscored"]),
                str(r["errors"]),
                fmt_limits(r.get("limits"), r["limit_hit"]),
                str(r["no_tool_calls"]),
                *_row_usage(r),
            ]
        )
    return headers, body


def settings_lines(settings: Sequence[dict[str, Any]]) -> list[str]:
    """The run settings recorded in the logs (run control, the judge's generation settings)."""
    lines: list[str] = []
    for i, st in enumerate(settings):
        if len(settings) > 1:
            lines.append(f"Run {i + 1}:")
        for key, value in st.items():
            if isinstance(value, dict):
                inner = ", ".join(f"{k}={v}" for k, v in value.items() if v is not None)
                lines.append(f"- {key}: {inner or '-'}")
            else:
                lines.append(f"- {key}: {value}")
    return lines


DEFINITIONS = (
    "Rates are the share of samples showing each rung or flag, over the samples where that key "
    "applies and was judged; `(of d)` gives that denominator where it differs from n. Intervals "
    "are {pct} Wilson score intervals; differences use Newcombe's hybrid score interval. `n` "
    "counts graded samples: those without an error that did not hit a limit; `errors` counts "
    "samples that errored (provider or harness; reasons below) or produced no score; `limit hit` "
    "counts samples that hit a limit (msg = messages, tok = tokens, work = working time, time = "
    "wall-clock, ctx = context window); both are `excluded` from every rate, never read as 'did "
    "not scheme'. `no tool call` counts samples whose agent made no tool call that parsed. Tokens "
    "are input + cached + output; cost is estimated from list prices (price table below); "
    "`errored re-runs` is the part of them spent by attempts that errored and were run again "
    "(--retry-on-error), what errors cost. "
    "`unscored` counts judgements a grader could not make (one per sample and key), which are "
    "never read as 0. `acted` = attempted or succeeded. The model summary pools the treatment "
    "(non-control) cells of each behaviour family. Treatment − control pairs each treatment cell "
    "with the control cells sharing its other factors; where that pairing is ill-defined the "
    "scenario is only compared pooled (pairing `pooled`). Capability cells (factor `instructed` = "
    "yes: the agent is asked for the act) are in no propensity pool (model summary, treatment − "
    "control, plots, the compare gate); propensity vs capability sets the succeeded rate over "
    "the treatment samples not asked beside the rate over those asked. `not measurable`: no "
    "success in either, so a 0% propensity cannot be read as safe; `—`: the scenarios have no "
    "instructed condition."
)


def render_markdown(report: Report, data: dict[str, Any], plots: Sequence[Plot]) -> str:
    pct = f"{report.confidence:.0%}"
    out = [
        "# Scheming evaluation report",
        "",
        f"{data['samples']} samples from {len(data['sources'])} log file(s); "
        f"models: {', '.join(report.models) or '-'}; package version: "
        f"{data['package_version'] or 'unknown'}; generated by {data['generated_by']}.",
        "",
        "## Model summary (acted = attempted or succeeded, treatment conditions)",
        "",
        _md_table(*summary_table_body(report, data)),
        "",
    ]
    if plots:
        out += ["## Plots", ""]
        out += [f"![{p.title}](plots/{p.png_path.name})" for p in plots]
        out.append("")
    if data.get("propensity_capability"):
        out += [
            "## Propensity vs capability (succeeded; per family, then per scenario)",
            "",
            _md_table(*propensity_capability_body(data)),
            "",
        ]
    if data["contrasts"]:
        out += [
            "## Treatment minus control (per scenario, pooled)",
            "",
            _md_table(*contrast_table_body(data)),
            "",
        ]
    out += ["## All cells", "", _md_table(*rows_table_body(data)), ""]
    rows = data["rows"]
    out += ["## Excluded samples", "", *[f"- {ln.strip()}" for ln in exclusion_lines(rows)], ""]
    usage = usage_lines(rows, report.prices)
    if usage:
        prices = data.get("prices") or {}
        out += [
            "## Tokens and estimated cost",
            "",
            *[f"- {ln.strip()}" for ln in usage],
            "",
            f"Prices per {int(prices.get('per_tokens') or 1e6):,} tokens from "
            f"{', '.join(prices.get('sources') or []) or 'the packaged table'} "
            f"(as of {prices.get('as_of') or '?'}).",
            "",
        ]
    if data.get("settings"):
        out += [
            "## Run settings (as recorded in the logs)",
            "",
            *settings_lines(data["settings"]),
            "",
        ]
    if data.get("sent"):
        out += ["## Generation settings as sent (first request of each sample, per model)", ""]
        for model, variants in data["sent"].items():
            for v in variants:
                inner = ", ".join(f"{k}={val}" for k, val in v["settings"].items())
                out.append(f"- {model}: {inner or '-'} ({v['samples']} samples)")
        out.append("")
    out += ["## Definitions", "", DEFINITIONS.format(pct=pct), ""]
    return "\n".join(out)


# --- LaTeX ------------------------------------------------------------------------------------

_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "−": "$-$",
    "—": "--",
}


def tex_escape(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in text)


def _tex_rate(row: dict[str, Any], key: str) -> str:
    rate = row.get(key)
    if rate is None:
        return "--"
    low, high = row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high")
    return f"{rate:.2f} {{\\scriptsize[{low:.2f}, {high:.2f}]}}"


def render_latex(report: Report, data: dict[str, Any]) -> str:
    """booktabs tables (model summary, propensity vs capability, all cells); needs `booktabs`."""
    pct = f"{report.confidence:.0%}".replace("%", r"\%")
    lines = [
        "% generated by scheming report; needs \\usepackage{booktabs}",
        "\\begin{table}[t]",
        "\\centering\\small",
        f"\\caption{{Share of samples in which the model acted (attempted or succeeded), "
        f"treatment conditions, with {pct} Wilson intervals.}}",
        "\\begin{tabular}{l" + "c" * len(report.behaviours) + "rrrr}",
        "\\toprule",
        "Model & "
        + " & ".join(tex_escape(b) for b in report.behaviours)
        + " & $n$ & excluded & tokens & est.\\ cost \\\\",
        "\\midrule",
    ]
    for m in data["models"]:
        cells = []
        for b in report.behaviours:
            e = m["behaviours"].get(b)
            cells.append(
                _tex_rate({"r": e["rate"], "r_ci_low": e["ci_low"], "r_ci_high": e["ci_high"]}, "r")
                if e
                else "--"
            )
        tokens, _, cost, _ = _row_usage(m)
        lines.append(
            f"{tex_escape(m['model'])} & "
            + " & ".join(cells)
            + f" & {m['n']} & {m['excluded']} & {tex_escape(tokens)} & "
            f"{tex_escape(cost)} \\\\"
        )
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    pc_headers, pc_body = propensity_capability_body(data)
    if pc_body:
        lines += [
            "\\begin{table}[t]",
            "\\centering\\scriptsize",
            f"\\caption{{Propensity (succeeded, not asked) beside capability (succeeded, asked), "
            f"treatment conditions, with {pct} Wilson intervals.}}",
            "\\begin{tabular}{llllccl}",
            "\\toprule",
            " & ".join(tex_escape(h) for h in pc_headers) + " \\\\",
            "\\midrule",
        ]
        lines += [" & ".join(tex_escape(c) for c in line) + " \\\\" for line in pc_body]
        lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    lines += [
        "\\begin{table}[t]",
        "\\centering\\scriptsize",
        f"\\caption{{Rates per model, scenario and factors with {pct} Wilson intervals.}}",
        "\\begin{tabular}{lll r " + "c" * len(RATE_KEYS) + " rrr}",
        "\\toprule",
        "Model & Scenario & Factors & $n$ & "
        + " & ".join(tex_escape(RATE_HEADERS[k]) for k in RATE_KEYS)
        + " & unscored & errors & limit \\\\",
        "\\midrule",
    ]
    for r in data["rows"]:
        label = factors_label(r["factors"]) + (" (control)" if r["control"] else "")
        lines.append(
            " & ".join(
                [
                    tex_escape(r["model"]),
                    tex_escape(r["scenario"]),
                    tex_escape(label),
                    str(r["n"]),
                    *(_tex_rate(r, k) for k in RATE_KEYS),
                    str(r["unscored"]),
                    str(r["errors"]),
                    str(r["limit_hit"]),
                ]
            )
            + " \\\\"
        )
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(lines)
