"""Results from scheming logs: rate tables with intervals, reports, and the CI compare gate.

- `summary_rows(logs)` / `format_table(rows)`: the per-cell rows `scheming run` prints and saves.
- `build_report(logs)` + `write_report(report, out_dir)`: README.md, table.csv, table.json,
  table.tex, report.html and plots.
- `load_side(path)` + `compare_cells(baseline, candidate)`: one-sided Fisher tests per cell.
- `wilson_interval`, `newcombe_interval`, `fisher_greater`: the statistics, stdlib only.

Logs may be given as `EvalLog`s, `.eval`/`.json` files, or directories searched recursively.
"""

from evals.analysis._compare import (
    DEFAULT_RATES,
    CompareError,
    Comparison,
    Test,
    VersionMismatch,
    compare_cells,
    comparison_json,
    format_comparison,
    load_side,
)
from evals.analysis._logs import LogReadError, find_log_files
from evals.analysis._plots import PlotsUnavailable
from evals.analysis._report import Report, build_report
from evals.analysis._rows import RATE_KEYS, SUMMARY_KEYS, Cell, load_cells, summary_rows
from evals.analysis._stats import fisher_greater, newcombe_interval, wilson_interval
from evals.analysis._text import format_table
from evals.analysis._write import write_report

__all__ = [
    "DEFAULT_RATES",
    "RATE_KEYS",
    "SUMMARY_KEYS",
    "Cell",
    "CompareError",
    "Comparison",
    "LogReadError",
    "PlotsUnavailable",
    "Report",
    "Test",
    "VersionMismatch",
    "build_report",
    "compare_cells",
    "comparison_json",
    "find_log_files",
    "fisher_greater",
    "format_comparison",
    "format_table",
    "load_cells",
    "load_side",
    "newcombe_interval",
    "summary_rows",
    "wilson_interval",
    "write_report",
]
