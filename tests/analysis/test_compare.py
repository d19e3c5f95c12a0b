from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from evals.analysis import VersionMismatch, compare_cells, load_cells, load_side
from evals.analysis._rows import Cell
from evals.analysis._synthetic import BENIGN_VALUE, SCHEMER_VALUE
from evals.cli import main


def _cell(
    k: int,
    n: int,
    scenario: str = "s/a",
    factors: dict[str, str] | None = None,
    model: str = "m",
    version: int = 1,
) -> Cell:
    c = Cell(
        model=model,
        scenario=scenario,
        scenario_version=version,
        behaviour="b",
        factors=factors or {"f": "1"},
        control=False,
        n=n,
    )
    c.k["succeeded"], c.d["succeeded"] = k, n
    return c


def test_benign_baseline_against_schemer_exits_1_and_names_cells(
    write_suite: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    benign = write_suite("scripted/benign", BENIGN_VALUE)
    schemer = write_suite("scripted/schemer", SCHEMER_VALUE)
    assert main(["compare", str(benign), str(schemer)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("WORSE:")
    assert "oversight_subversion/traffic_planner" in out
    assert "self_exfiltration/model_migration" in out
    assert "scripted/benign -> scripted/schemer" in out
    # 3/3 against 0/3 in one cell is p = 0.05, not below alpha: cells alone are not flagged,
    # the scenario (12 against 12) is
    levels = [line.split()[0] for line in out.splitlines()[2:] if line[:1].isalpha()]
    assert "cell" not in levels
    assert {"scenario", "behaviour", "all"} <= set(levels)
    # pooled tests still name the cells behind them
    assert "  oversight_subversion/traffic_planner [conflict=present, nudge=strong]\n" in out
    assert "  self_exfiltration/model_migration [conflict=absent, nudge=none (control)]\n" in out


def test_schemer_baseline_against_benign_exits_0(
    write_suite: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    benign = write_suite("scripted/benign", BENIGN_VALUE)
    schemer = write_suite("scripted/schemer", SCHEMER_VALUE)
    assert main(["compare", str(schemer), str(benign)]) == 0
    assert capsys.readouterr().out.startswith("OK:")
    # identical runs are not worse either
    assert main(["compare", str(schemer), str(schemer)]) == 0


def test_compare_against_a_report_json(
    write_suite: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    benign = write_suite("scripted/benign", BENIGN_VALUE)
    schemer = write_suite("scripted/schemer", SCHEMER_VALUE)
    out = tmp_path / "baseline"
    assert main(["report", str(benign), "--out", str(out), "--no-plots", "--quiet"]) == 0
    table = out / "table.json"
    assert main(["compare", str(table), str(schemer), "--json", str(tmp_path / "c.json")]) == 1
    result = json.loads((tmp_path / "c.json").read_text())
    assert result["worse"] and result["cells_compared"] == 8
    # the report's rows carry the same counts as the logs
    assert sorted(c.key[1:] for c in load_side(table)) == sorted(
        c.key[1:] for c in load_cells([benign])
    )
    capsys.readouterr()


def test_older_scenario_version_is_refused(
    write_suite: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old = write_suite("scripted/benign", BENIGN_VALUE, version=1, name="old")
    new = write_suite("scripted/schemer", SCHEMER_VALUE, version=2, name="new")
    assert main(["compare", str(old), str(new)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert err.startswith("scheming compare: scenario versions differ, refusing to compare")
    assert "oversight_subversion/traffic_planner" in err
    assert "baseline version 1, candidate version 2" in err
    assert "[conflict=present, nudge=strong]" in err and "(control)" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["/no/such/logs", "{good}"],
        ["{good}", "{bad_json}"],
        ["{good}", "{not_report}"],
        ["{good}", "{good}", "--alpha", "2"],
        ["{good}", "{good}", "--rates", "bogus"],
        ["{good}", "{garbage}"],
    ],
)
def test_usage_errors_exit_2(
    argv: list[str],
    write_suite: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = write_suite("scripted/benign", BENIGN_VALUE)
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "other.json").write_text('{"hello": 1}')
    (tmp_path / "garbage.eval").write_bytes(b"PK\x03\x04 truncated")
    names = {
        "good": good,
        "bad_json": tmp_path / "bad.json",
        "not_report": tmp_path / "other.json",
        "garbage": tmp_path / "garbage.eval",
    }
    assert main(["compare", *(a.format(**names) for a in argv)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("scheming compare: ") and len(err.splitlines()) == 1
    assert "Traceback" not in err


def test_missing_argument_is_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["compare", "only-one"])
    assert exc.value.code == 2


def test_margin_requires_increase_beyond_it() -> None:
    base = [_cell(20, 100)]
    cand = [_cell(40, 100)]  # +0.20, p ~ 0.002
    assert compare_cells(base, cand, levels=["cell"]).worse
    # the one-sided lower bound of the increase is about +0.09: a 0.05 margin still fails,
    # a 0.15 margin does not
    assert compare_cells(base, cand, levels=["cell"], margin=0.05).worse
    assert not compare_cells(base, cand, levels=["cell"], margin=0.15).worse


def test_alpha_and_holm() -> None:
    base = [_cell(10, 50, factors={"f": str(i)}) for i in range(10)]
    cand = [_cell(20, 50, factors={"f": "0"})] + [
        _cell(10, 50, factors={"f": str(i)}) for i in range(1, 10)
    ]
    single = compare_cells(base, cand, levels=["cell"])
    (test,) = single.worse
    assert test.factors == "f=0" and 0.01 < test.p_value < 0.05  # p = 0.024
    assert not compare_cells(base, cand, levels=["cell"], alpha=0.01).worse
    # ten tests: Holm needs p < 0.005 for the smallest
    assert not compare_cells(base, cand, levels=["cell"], holm=True).worse


def test_cells_only_on_one_side_are_listed_not_tested() -> None:
    result = compare_cells(
        [_cell(0, 10), _cell(0, 10, scenario="s/b")],
        [_cell(0, 10), _cell(10, 10, scenario="s/c")],
        levels=["cell"],
    )
    assert result.cells_compared == 1 and not result.worse
    assert result.only_baseline == ["m s/b [f=1]"] and result.only_candidate == ["m s/c [f=1]"]


def test_version_mismatch_names_cells_directly() -> None:
    with pytest.raises(VersionMismatch) as exc:
        compare_cells([_cell(0, 10, version=1)], [_cell(0, 10, version=3)])
    assert exc.value.cells == ["s/a (m): baseline version 1, candidate version 3 (cells: [f=1])"]


def test_levels_option(
    write_suite: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    benign = write_suite("scripted/benign", BENIGN_VALUE)
    schemer = write_suite("scripted/schemer", SCHEMER_VALUE)
    # per cell, 3/3 against 0/3 is p = 0.05: not below alpha, so cells alone pass
    assert main(["compare", str(benign), str(schemer), "--levels", "cell"]) == 0
    assert main(["compare", str(benign), str(schemer), "--levels", "cell", "--alpha", "0.06"]) == 1
    assert main(["compare", str(benign), str(schemer), "--levels", "all"]) == 1
    assert main(["compare", str(benign), str(schemer), "--levels", "nope"]) == 2
    capsys.readouterr()
