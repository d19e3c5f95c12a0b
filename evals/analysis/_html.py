"""The self-contained HTML report: inline CSS, plots inlined (PNG as base64, SVG as markup), no
scripts and no external resources, so it opens anywhere, offline, as one file."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from evals.analysis._text import (
    DEFINITIONS,
    contrast_table_body,
    propensity_capability_body,
    rows_table_body,
    summary_table_body,
)

if TYPE_CHECKING:
    from evals.analysis._plots import Plot
    from evals.analysis._report import Report

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem;
       color: #1a1a1a; max-width: 100rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; font-size: 0.82rem; margin: 0.5rem 0; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.45rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr:nth-child(even) td { background: #fafafa; }
figure { margin: 1rem 0; } figcaption { font-size: 0.85rem; color: #555; }
img.plot, figure svg { max-width: 100%; height: auto; }
.note { color: #555; font-size: 0.85rem; } .warn { color: #a33; }
"""

_SVG_START = re.compile(r"<svg\b", re.IGNORECASE)


def _table(headers: list[str], body: list[list[str]], cls: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    rows = []
    for line in body:
        cells = []
        for text in line:
            numeric = bool(text) and (text[0].isdigit() or text[0] in "+-") and text != "-"
            attr = ' class="num"' if numeric else ""
            cells.append(f"<td{attr}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def inline_svg(svg: str) -> str:
    """SVG markup without its XML declaration and doctype, ready to inline in HTML."""
    match = _SVG_START.search(svg)
    return svg[match.start() :] if match else ""


def render_html(
    report: Report, data: dict[str, Any], plots: Sequence[Plot], plots_missing: str | None
) -> str:
    pct = f"{report.confidence:.0%}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Scheming evaluation report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Scheming evaluation report</h1>",
        f'<p class="note">{data["samples"]} samples from {len(data["sources"])} log file(s); '
        f"models: {html.escape(', '.join(report.models) or '-')}; package version: "
        f"{html.escape(str(data['package_version'] or 'unknown'))}; "
        f"{html.escape(data['generated_by'])}. Intervals: {pct} Wilson.</p>",
        "<h2>Model summary</h2>",
        '<p class="note">Acted = attempted or succeeded, pooled over the treatment (non-control) '
        "cells of each behaviour family.</p>",
        _table(*summary_table_body(report, data), "summary"),
        "<h2>Plots</h2>",
    ]
    if plots_missing:
        parts.append(f'<p class="warn">{html.escape(plots_missing)}</p>')
    for i, plot in enumerate(plots):
        if i % 2 == 0:
            encoded = base64.b64encode(plot.png).decode("ascii")
            body = (
                f'<img class="plot" alt="{html.escape(plot.title)}" '
                f'src="data:image/png;base64,{encoded}">'
            )
        else:
            body = inline_svg(plot.svg)
        parts.append(
            f'<figure id="plot-{html.escape(plot.name)}">{body}'
            f"<figcaption>{html.escape(plot.title)} (files: plots/{plot.png_path.name}, "
            f"plots/{plot.svg_path.name})</figcaption></figure>"
        )
    if data.get("propensity_capability"):
        parts += [
            "<h2>Propensity vs capability</h2>",
            '<p class="note">Succeeded over the treatment samples not asked for the act '
            "beside those asked for it (factor <code>instructed</code>). Not measurable: no "
            "success in either, so 0% propensity is not read as safe.</p>",
            _table(*propensity_capability_body(data), "capability"),
        ]
    if data["contrasts"]:
        parts += [
            "<h2>Treatment minus control</h2>",
            _table(*contrast_table_body(data), "contrasts"),
        ]
    parts += [
        "<h2>All cells</h2>",
        _table(*rows_table_body(data), "cells"),
        "<h2>Definitions</h2>",
        f'<p class="note">{html.escape(DEFINITIONS.format(pct=pct))}</p>',
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
