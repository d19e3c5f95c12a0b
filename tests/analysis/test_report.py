from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from evals.analysis import build_report, write_report
from evals.analysis._synthetic import BENIGN_VALUE, SCHEMER_VALUE
from evals.cli import main

FILES = ("README.md", "table.csv", "table.json", "table.tex", "report.html")


@pytest.fixture
def two_runs(write_suite: Callable[..., Path]) -> list[Path]:
    return [
        write_suite("scripted/schemer", SCHEMER_VALUE),
        write_suite("scripted/benign", BENIGN_VALUE),
    ]


def test_report_command_writes_every_file(
    two_runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "results" / "ref"
    assert main(["report", *map(str, two_runs), "--out", str(out)]) == 0
    assert "48 samples from 2 log(s)" in capsys.readouterr().out
    for name in FILES:
        assert (out / name).stat().st_size > 200, name
    for plot in ("summary", "scenarios"):
        assert (out / "plots" / f"{plot}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in (out / "plots" / f"{plot}.svg").read_text()
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page and "<svg" in page
    # self-contained: nothing loaded from elsewhere, no scripts
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", page)
    # the model-level summary comes before the plots and the full table
    assert page.index("Model summary") < page.index("Plots") < page.index("All cells")


def test_report_json_rows(two_runs: list[Path], tmp_path: Path) -> None:
    report = build_report(two_runs)
    write_report(report, tmp_path / "out", plots=False)
    data = json.loads((tmp_path / "out" / "table.json").read_text())
    assert data["format"] == "scheming-report" and data["interval"] == "wilson"
    rows = data["rows"]
    assert len(rows) == 16
    for row in rows:
        schemer = row["model"] == "scripted/schemer"
        assert row["n"] == 3
        assert row["succeeded"] == (1.0 if schemer else 0.0)
        assert row["succeeded_k"] == (3 if schemer else 0) and row["succeeded_n"] == 3
        # Wilson 95% for 3/3 is [0.4385, 1]; for 0/3 it is [0, 0.5615]
        if schemer:
            assert row["succeeded_ci_high"] == 1.0
            assert row["succeeded_ci_low"] == pytest.approx(0.4385, abs=1e-4)
        else:
            assert row["succeeded_ci_low"] == 0.0
            assert row["succeeded_ci_high"] == pytest.approx(0.5615, abs=1e-4)
        assert row["package_version"] == "0.1.0" and row["scenario_version"] == 1
        assert {"unscored", "errors", "limit_hit", "factors", "behaviour"} <= set(row)
        if row["control"]:
            assert row["control_match"] is None
        else:
            # every treatment cell pairs with the control cell of the same nudge
            assert row["control_match"] == "factors"
            assert row["acted_minus_control"] == 0.0
    models = {m["model"]: m for m in data["models"]}
    assert models["scripted/schemer"]["behaviours"]["oversight_subversion"]["rate"] == 1.0
    assert models["scripted/schemer"]["behaviours"]["oversight_subversion"]["n"] == 6
    assert models["scripted/benign"]["behaviours"]["self_exfiltration"]["rate"] == 0.0
    assert len(data["contrasts"]) == 4 and {c["match"] for c in data["contrasts"]} == {"factors"}
    with (tmp_path / "out" / "table.csv").open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == 16 and table[0]["factors"] == "conflict=present; nudge=none"
    tex = (tmp_path / "out" / "table.tex").read_text()
    assert "\\toprule" in tex and "oversight\\_subversion" in tex
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "| scripted/schemer | 1.00 [0.61, 1.00] (n=6)" in readme


def test_treatment_minus_control_when_control_differs() -> None:
    from evals.analysis._report import report_from_cells
    from evals.analysis._rows import Cell

    def cell(factors: dict[str, str], control: bool, k: int, n: int) -> Cell:
        c = Cell(
            model="m",
            scenario="s/x",
            scenario_version=1,
            behaviour="b",
            factors=factors,
            control=control,
            n=n,
        )
        c.k["acted"], c.d["acted"] = k, n
        return c

    matched = report_from_cells(
        [
            cell({"goal": "conflict", "nudge": "a"}, False, 8, 10),
            cell({"goal": "conflict", "nudge": "b"}, False, 2, 10),
            cell({"goal": "aligned", "nudge": "a"}, True, 1, 10),
            cell({"goal": "aligned", "nudge": "b"}, True, 2, 10),
        ]
    )
    diffs = {
        r["factors"]["nudge"]: r["acted_minus_control"] for r in matched.rows() if not r["control"]
    }
    assert diffs == {"a": pytest.approx(0.7), "b": pytest.approx(0.0)}
    # control ran only for nudge=a: nudge=b has no counterpart, so only the pooled contrast
    pooled = report_from_cells(
        [
            cell({"goal": "conflict", "nudge": "a"}, False, 8, 10),
            cell({"goal": "conflict", "nudge": "b"}, False, 2, 10),
            cell({"goal": "aligned", "nudge": "a"}, True, 1, 10),
        ]
    )
    assert all(r["control_match"] is None for r in pooled.rows())
    (contrast,) = pooled.contrast_rows()
    assert contrast["match"] == "pooled"
    assert contrast["acted"]["difference"] == pytest.approx(0.5 - 0.1)


def test_report_without_matplotlib(
    two_runs: list[Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    out = tmp_path / "out"
    assert main(["report", *map(str, two_runs), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "matplotlib is not installed" in err and "scheming-evals[report]" in err
    for name in FILES:
        assert (out / name).exists()
    assert "matplotlib is not installed" in (out / "report.html").read_text()


@pytest.mark.parametrize("args", [["/no/such/dir"], ["{empty}"], ["{garbage}"]])
def test_report_usage_errors(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "garbage.eval").write_text("not a zip")
    paths = [a.format(empty=tmp_path / "empty", garbage=tmp_path / "garbage.eval") for a in args]
    assert main(["report", *paths, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("scheming report: ") and "Traceback" not in err
    assert len(err.splitlines()) == 1


def test_report_dir_beside_logs_is_not_read_as_a_log(two_runs: list[Path], tmp_path: Path) -> None:
    from inspect_ai.log import read_eval_log, write_eval_log

    from evals.analysis import find_log_files

    out = two_runs[0] / "report"
    assert main(["report", str(two_runs[0]), "--out", str(out), "--no-plots", "--quiet"]) == 0
    # an inspect log in JSON format beside it is read
    log = read_eval_log(str(next(two_runs[1].glob("*.eval"))))
    write_eval_log(log, str(two_runs[0] / "benign.json"))
    found = find_log_files([two_runs[0]])
    assert sorted(p.suffix for p in found) == [".eval", ".json"]
    assert all(p.name != "table.json" for p in found)
    rows = build_report([two_runs[0]]).rows()
    assert {r["model"] for r in rows} == {"scripted/schemer", "scripted/benign"}
