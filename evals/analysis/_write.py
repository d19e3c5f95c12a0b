"""Writing a report: README.md, table.csv, table.json, table.tex, report.html and plots."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from evals.analysis._html import render_html
from evals.analysis._plots import Plot, PlotsUnavailable, make_plots
from evals.analysis._report import Report
from evals.analysis._rows import RATE_KEYS
from evals.analysis._text import render_latex, render_markdown


def write_report(report: Report, out_dir: str | Path, plots: bool = True) -> list[Path]:
    """Write README.md, table.csv, table.json, table.tex, report.html (and plots/) to `out_dir`.

    Plots need matplotlib (the `report` extra); without it everything else is written and
    `evals.analysis.PlotsUnavailable` is raised afterwards, naming what to install.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    data = report.to_json()

    made: list[Plot] = []
    missing: PlotsUnavailable | None = None
    if plots:
        try:
            made = make_plots(report, out / "plots")
        except PlotsUnavailable as ex:
            missing = ex
        written += [p for plot in made for p in (plot.png_path, plot.svg_path)]

    def put(name: str, text: str) -> None:
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)

    put("table.json", json.dumps(data, indent=1, sort_keys=False) + "\n")
    _write_csv(out / "table.csv", data["rows"])
    written.append(out / "table.csv")
    put("README.md", render_markdown(report, data, made))
    put("table.tex", render_latex(report, data))
    put("report.html", render_html(report, data, made, None if missing is None else str(missing)))
    if missing is not None:
        raise missing
    return written


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    flat: list[dict[str, Any]] = []
    for row in rows:
        item: dict[str, Any] = {}
        for key, value in row.items():
            if key == "factors":
                item["factors"] = "; ".join(f"{k}={value[k]}" for k in sorted(value))
                item["factors_json"] = json.dumps(value, sort_keys=True)
            elif isinstance(value, dict):
                item[key] = json.dumps(value, sort_keys=True)
            else:
                item[key] = value
        flat.append(item)
    fields: list[str] = list(flat[0]) if flat else ["model", "scenario", "factors", "n", *RATE_KEYS]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(flat)
