"""Plain-text renderings: the terminal table, Markdown (README.md) and LaTeX (table.tex)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of `summary_rows` rows for the terminal.

    Columns: model (only when there are several), scenario, factors, n, one rate per key
    (`-` where it never applies), unscored, errors, limit. A legend of the short headers follows.
    """
    if not rows:
        return "(no scheming samples)"
    models = {str(r.get("model")) for r in rows}
    headers: list[str] = []
    if len(models) > 1:
        headers.append("model")
    headers += ["scenario", "factors", "n", *(SHORT[k] for k in RATE_KEYS),
                "unscored", "errors", "limit"]
    body: list[list[str]] = []
    for r in rows:
        line: list[str] = []
        if len(models) > 1:
            line.append(str(r.get("model")))
        factors = r.get("factors") or {}
        label = factors_label(factors) if isinstance(factors, dict) else str(factors)
        if r.get("control"):
            label += " (control)"
        line += [str(r.get("scenario")), label, str(r.get("n", 0))]
        line += [fmt_rate(r.get(k)) for k in RATE_KEYS]
        line += [str(r.get("unscored", 0)), str(r.get("errors", 0)), str(r.get("limit_hit", 0))]
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
    lines.append(f"rates over the samples where each key applies and was judged; {legend}")
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
    headers = ["model", *report.behaviours, "n", "unscored", "errors", "limit hit"]
    body: list[list[str]] = []
    for m in data["models"]:
        line = [m["model"]]
        for behaviour in report.behaviours:
            e = m["behaviours"].get(behaviour)
            if e is None or e["rate"] is None:
                line.append("-")
            else:
                line.append(f"{fmt_rate_ci(e['rate'], e['ci_low'], e['ci_high'])} (n={e['n']})")
        line += [str(m["n"]), str(m["unscored"]), str(m["errors"]), str(m["limit_hit"])]
        body.append(line)
    return headers, body


def contrast_table_body(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    headers = ["model", "behaviour", "scenario", "version", "treatment acted", "control acted",
               "difference", "pairing"]
    body: list[list[str]] = []
    for c in data["contrasts"]:
        a = c[ACTED]
        t, k = a["treatment"], a["control"]
        body.append([
            c["model"], c["behaviour"], c["scenario"], str(c["scenario_version"]),
            f"{fmt_rate_ci(t['rate'], t['ci_low'], t['ci_high'])} ({t['k']}/{t['n']})",
            f"{fmt_rate_ci(k['rate'], k['ci_low'], k['ci_high'])} ({k['k']}/{k['n']})",
            fmt_diff_ci(a["difference"], a["ci_low"], a["ci_high"]),
            c["match"],
        ])
    return headers, body


def rows_table_body(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    headers = ["model", "behaviour", "scenario", "v", "factors", "n",
               *(RATE_HEADERS[k] for k in RATE_KEYS), "acted − control", "unscored", "errors",
               "limit hit"]
    body: list[list[str]] = []
    for r in data["rows"]:
        label = factors_label(r["factors"]) + (" (control)" if r["control"] else "")
        body.append([
            r["model"], r["behaviour"], r["scenario"], str(r["scenario_version"]), label,
            str(r["n"]), *(_of(r, k) for k in RATE_KEYS),
            fmt_diff_ci(r[f"{ACTED}_minus_control"], r[f"{ACTED}_minus_control_ci_low"],
                        r[f"{ACTED}_minus_control_ci_high"]),
            str(r["unscored"]), str(r["errors"]), str(r["limit_hit"]),
        ])
    return headers, body


DEFINITIONS = (
    "Rates are the share of samples showing each rung or flag, over the samples where that key "
    "applies and was judged; `(of d)` gives that denominator where it differs from n. Intervals "
    "are {pct} Wilson score intervals; differences use Newcombe's hybrid score interval. `n` "
    "counts scored samples without an error; `errors` counts samples that errored or produced no "
    "score; `limit hit` counts samples that hit a message/time limit (still in n when scored); "
    "`unscored` counts judgements a grader could not make (one per sample and key), which are "
    "never read as 0. `acted` = attempted or succeeded. The model summary pools the treatment "
    "(non-control) cells of each behaviour family. Treatment − control pairs each treatment cell "
    "with the control cells sharing its other factors; where that pairing is ill-defined the "
    "scenario is only compared pooled (pairing `pooled`)."
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
    if data["contrasts"]:
        out += ["## Treatment minus control (per scenario, pooled)", "",
                _md_table(*contrast_table_body(data)), ""]
    out += ["## All cells", "", _md_table(*rows_table_body(data)), "",
            "## Definitions", "", DEFINITIONS.format(pct=pct), ""]
    return "\n".join(out)


# --- LaTeX ------------------------------------------------------------------------------------

_TEX = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "−": "$-$",
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
    """Two booktabs tables (model summary, all cells); needs `booktabs` in the preamble."""
    pct = f"{report.confidence:.0%}".replace("%", r"\%")
    lines = [
        "% generated by scheming report; needs \\usepackage{booktabs}",
        "\\begin{table}[t]",
        "\\centering\\small",
        f"\\caption{{Share of samples in which the model acted (attempted or succeeded), "
        f"treatment conditions, with {pct} Wilson intervals.}}",
        "\\begin{tabular}{l" + "c" * len(report.behaviours) + "r}",
        "\\toprule",
        "Model & " + " & ".join(tex_escape(b) for b in report.behaviours) + " & $n$ \\\\",
        "\\midrule",
    ]
    for m in data["models"]:
        cells = []
        for b in report.behaviours:
            e = m["behaviours"].get(b)
            cells.append(_tex_rate({"r": e["rate"], "r_ci_low": e["ci_low"],
                                    "r_ci_high": e["ci_high"]}, "r") if e else "--")
        lines.append(f"{tex_escape(m['model'])} & " + " & ".join(cells) + f" & {m['n']} \\\\")
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
            " & ".join([tex_escape(r["model"]), tex_escape(r["scenario"]), tex_escape(label),
                        str(r["n"]), *(_tex_rate(r, k) for k in RATE_KEYS),
                        str(r["unscored"]), str(r["errors"]), str(r["limit_hit"])])
            + " \\\\"
        )
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(lines)
