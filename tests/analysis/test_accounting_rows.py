"""Every sample's fate, tokens and cost in every output: rows, the console table, and each report
format (Markdown, CSV, JSON, LaTeX, HTML), read from written `.eval` logs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from evals.analysis import build_report, format_table, summary_rows, write_report
from evals.analysis._synthetic import SCHEMER_VALUE, make_log, make_sample, write_log

SCENARIO = "oversight_subversion/traffic_planner"
TREAT = {"nudge": "strong"}
USAGE = {
    "openai/gpt-5": {
        "input_tokens": 1_000_000,
        "output_tokens": 100_000,
        "total_tokens": 1_100_000,
        "input_tokens_cache_read": 200_000,
        "reasoning_tokens": 50_000,
    },
    "anthropic/claude-haiku-4-5": {"input_tokens": 10_000, "output_tokens": 1_000},
}
ACCOUNT = {
    "tool_calls": 3,
    "bad_tool_calls": 0,
    "requests": {"openai/gpt-5": 12, "anthropic/claude-haiku-4-5": 2},
}


def _log(tmp_path: Path) -> Path:
    samples = [
        make_sample(SCENARIO, TREAT, SCHEMER_VALUE, epoch=1, usage=USAGE, accounting=ACCOUNT),
        # the agent's own message limit, caught inside the agent: scored, yet excluded
        make_sample(SCENARIO, TREAT, SCHEMER_VALUE, epoch=2,
                    accounting={"limit": "message", "tool_calls": 0, "bad_tool_calls": 4}),
        make_sample(SCENARIO, TREAT, {**SCHEMER_VALUE, "succeeded": 0}, epoch=3,
                    accounting={"limit": "context", "tool_calls": 2}),
        make_sample(SCENARIO, TREAT, None, epoch=4, limit="working time", limit_type="working"),
        make_sample(SCENARIO, TREAT, None, epoch=5,
                    error="InternalServerError: Error code: 500 - boom\ntraceback"),
        make_sample(SCENARIO, TREAT, None, epoch=6,
                    error="InternalServerError: Error code: 500 - boom"),
    ]  # fmt: skip
    return write_log(make_log("openai/gpt-5", samples), tmp_path / "logs")


def test_each_sample_has_one_fate_and_rates_exclude_the_abnormal(tmp_path: Path) -> None:
    [row] = summary_rows(_log(tmp_path))
    assert (row["samples"], row["n"], row["errors"], row["limit_hit"]) == (6, 1, 2, 3)
    assert row["excluded"] == 5
    assert row["limits"] == {"context": 1, "message": 1, "working": 1}
    assert row["error_reasons"] == {"InternalServerError: Error code: 500 - boom": 2}
    assert row["no_tool_calls"] == 1 and row["bad_tool_calls"] == 4
    assert row["succeeded"] == 1.0  # over the one graded sample only
    usage = row["usage"]
    gpt = usage["models"]["openai/gpt-5"]
    assert (gpt["input"], gpt["output"], gpt["cache_read"], gpt["reasoning"], gpt["requests"]) == (
        1_000_000, 100_000, 200_000, 50_000, 12)  # fmt: skip
    # gpt-5: 1M × $1.25 + 0.2M × $0.125 + 0.1M × $10; haiku: 10k × $1 + 1k × $5
    assert gpt["cost_usd"] == 1.25 + 0.025 + 1.0
    assert usage["cost_usd"] == round(2.275 + 0.01 + 0.005, 6)
    table = format_table([row])
    assert "3 (ctx 1, msg 1, work 1)" in table
    assert "errored ×2: InternalServerError: Error code: 500 - boom" in table
    assert "agent made no tool call: 1" in table
    assert "estimated cost: $2.29" in table


def test_every_report_format_shows_fates_tokens_and_cost(tmp_path: Path) -> None:
    report = build_report([_log(tmp_path)])
    out = tmp_path / "report"
    write_report(report, out, plots=False)
    data = json.loads((out / "table.json").read_text())
    [model] = data["models"]
    assert (model["n"], model["excluded"], model["errors"], model["limit_hit"]) == (1, 5, 2, 3)
    assert model["usage"]["total"]["requests"] == 14
    [row] = data["rows"]
    assert row["tokens_input"] == 1_010_000 and row["tokens_reasoning"] == 50_000
    assert row["cost_usd"] == model["usage"]["cost_usd"]
    with (out / "table.csv").open() as f:
        [flat] = list(csv.DictReader(f))
    assert flat["excluded"] == "5" and flat["requests"] == "14" and flat["no_tool_calls"] == "1"
    md = (out / "README.md").read_text()
    assert "## Excluded samples" in md and "## Tokens and estimated cost" in md
    assert "limit hit ×1: context" in md and "$2.29" in md
    tex = (out / "table.tex").read_text()
    assert "excluded" in tex and "\\$2.29" in tex
    html = (out / "report.html").read_text()
    assert "excluded" in html and "$2.29" in html


def test_report_states_the_settings_actually_sent(tmp_path: Path) -> None:
    sent = {
        "openai/gpt-5-mini": {"temperature": "not sent", "max_tokens": "not sent", "role": "grader"}
    }
    samples = [
        make_sample(SCENARIO, TREAT, SCHEMER_VALUE, epoch=e,
                    accounting={"tool_calls": 1, "sent": sent})
        for e in (1, 2)
    ]  # fmt: skip
    report = build_report([write_log(make_log("openai/gpt-5", samples), tmp_path / "logs")])
    data = report.to_json()
    assert data["sent"] == {"openai/gpt-5-mini": [{"settings": sent["openai/gpt-5-mini"],
                                                   "samples": 2}]}  # fmt: skip
    out = tmp_path / "report"
    write_report(report, out, plots=False)
    md = (out / "README.md").read_text()
    assert "## Generation settings as sent" in md
    assert "- openai/gpt-5-mini: max_tokens=not sent, role=grader, temperature=not sent" in md
