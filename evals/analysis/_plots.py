"""Plots for the report, drawn with matplotlib (optional: the `report` extra).

matplotlib is imported here, lazily, and only its object-oriented API is used (no pyplot, so no
global figure state and no GUI backend). Each plot is saved as PNG and SVG.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.analysis._rows import ACTED, Cell

if TYPE_CHECKING:
    from evals.analysis._report import Report


class PlotsUnavailable(Exception):
    """matplotlib is not installed, so no plots were drawn."""


INSTALL_HINT = (
    "matplotlib is not installed, so the report has no plots; install it with "
    "`pip install 'scheming-evals[report]'` (or `pip install matplotlib`), or pass --no-plots"
)


@dataclass
class Plot:
    name: str
    title: str
    png_path: Path
    svg_path: Path
    png: bytes
    svg: str


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as ex:
        raise PlotsUnavailable(INSTALL_HINT) from ex
    return Figure


def make_plots(report: Report, out_dir: Path) -> list[Plot]:
    """Draw the report's plots into `out_dir` (PNG and SVG each); raises `PlotsUnavailable`."""
    figure = _figure_class()
    import matplotlib

    out_dir.mkdir(parents=True, exist_ok=True)
    plots: list[Plot] = []
    if not report.cells:
        return plots
    # text stays text in SVG (smaller, searchable); fixed hash salt: stable ids across runs
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "scheming-report"}):
        plots.append(
            _save(
                _heatmap(figure, report),
                "summary",
                "Acted rate by model and behaviour (treatment conditions)",
                out_dir,
            )
        )
        plots.append(
            _save(
                _scenarios(figure, report),
                "scenarios",
                f"Acted rate per scenario with {report.confidence:.0%} Wilson intervals",
                out_dir,
            )
        )
    return plots


def _save(fig: Any, name: str, title: str, out_dir: Path) -> Plot:
    png_buf = io.BytesIO()
    fig.savefig(png_buf, format="png", dpi=110)
    svg_buf = io.StringIO()
    fig.savefig(svg_buf, format="svg", metadata={"Date": None})
    png = png_buf.getvalue()
    svg = svg_buf.getvalue()
    png_path = out_dir / f"{name}.png"
    svg_path = out_dir / f"{name}.svg"
    png_path.write_bytes(png)
    svg_path.write_text(svg, encoding="utf-8")
    return Plot(name=name, title=title, png_path=png_path, svg_path=svg_path, png=png, svg=svg)


def _pooled(report: Report, by_scenario: bool) -> dict[tuple[str, str], Cell]:
    pooled: dict[tuple[str, str], Cell] = {}
    for cell in report.cells:
        if cell.control or cell.capability:
            continue
        key = (cell.model, cell.scenario if by_scenario else cell.behaviour)
        target = pooled.get(key)
        if target is None:
            target = Cell(
                model=cell.model,
                scenario=cell.scenario,
                scenario_version=None,
                behaviour=cell.behaviour,
                factors={},
                control=False,
            )
            pooled[key] = target
        target.add(cell)
    return pooled


def _heatmap(figure: Any, report: Report) -> Any:
    models, behaviours = report.models, report.behaviours
    pooled = _pooled(report, by_scenario=False)
    grid: list[list[float]] = []
    for model in models:
        line: list[float] = []
        for behaviour in behaviours:
            cell = pooled.get((model, behaviour))
            rate = cell.rate(ACTED) if cell else None
            line.append(float("nan") if rate is None else rate)
        grid.append(line)
    width = min(16.0, 2.5 + 1.3 * len(behaviours))
    height = min(12.0, 1.6 + 0.55 * len(models))
    fig = figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(grid, vmin=0.0, vmax=1.0, cmap="Reds", aspect="auto")
    ax.set_xticks(
        range(len(behaviours)), [b.replace("_", " ") for b in behaviours], rotation=30, ha="right"
    )
    ax.set_yticks(range(len(models)), models)
    for i, model in enumerate(models):
        for j, behaviour in enumerate(behaviours):
            cell = pooled.get((model, behaviour))
            if cell is None or cell.rate(ACTED) is None:
                ax.text(j, i, "–", ha="center", va="center", color="grey")
                continue
            rate = cell.rate(ACTED) or 0.0
            ax.text(
                j,
                i,
                f"{rate:.2f}\nn={cell.d[ACTED]}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if rate > 0.6 else "black",
            )
    fig.colorbar(image, ax=ax, label="acted rate")
    ax.set_title("Acted (attempted or succeeded), treatment conditions")
    return fig


def _scenarios(figure: Any, report: Report) -> Any:
    pooled = _pooled(report, by_scenario=True)
    scenarios = sorted({s for _, s in pooled}, reverse=True)
    models = report.models
    height = min(40.0, 1.8 + 0.28 * len(scenarios) * max(1, min(len(models), 4)))
    fig = figure(figsize=(8.0, height), layout="constrained")
    ax = fig.add_subplot()
    step = 0.8 / max(1, len(models))
    for m_index, model in enumerate(models):
        ys: list[float] = []
        xs: list[float] = []
        lows: list[float] = []
        highs: list[float] = []
        for s_index, scenario in enumerate(scenarios):
            cell = pooled.get((model, scenario))
            rate = cell.rate(ACTED) if cell else None
            if cell is None or rate is None:
                continue
            ci = report.interval(cell.k[ACTED], cell.d[ACTED])
            assert ci is not None
            ys.append(s_index - 0.4 + step * (m_index + 0.5))
            xs.append(rate)
            lows.append(rate - ci[0])
            highs.append(ci[1] - rate)
        ax.errorbar(xs, ys, xerr=[lows, highs], fmt="o", markersize=4, capsize=2, label=model)
    ax.set_yticks(range(len(scenarios)), scenarios, fontsize=8)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("acted rate (attempted or succeeded)")
    ax.grid(axis="x", alpha=0.3)
    if models:
        ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Per scenario, treatment conditions pooled over factors")
    return fig
