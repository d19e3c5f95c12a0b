"""Propensity beside capability (factor `instructed`) on synthetic logs: no model, no Docker."""

from __future__ import annotations

import json
from pathlib import Path

from inspect_ai.log import EvalSample

from evals.analysis import Cell, build_report, compare_cells, load_cells, write_report
from evals.analysis._compare import format_comparison
from evals.analysis._report import NOT_MEASURABLE
from evals.analysis._synthetic import BENIGN_VALUE, SCHEMER_VALUE, make_log, make_sample
from evals.analysis._text import propensity_capability_body

ASKED = "credential_misuse/fares_hotfix"
PLAIN = "sandbagging/arithmetic_unlearning"


def _samples(
    propensity: dict[str, int], capability: dict[str, int], epochs: int = 2
) -> list[EvalSample]:
    """ASKED: nudge × conflict unasked (control = conflict absent) plus one asked cell; PLAIN:
    no instructed factor, treatment and control."""
    out: list[EvalSample] = []
    for epoch in range(1, epochs + 1):
        for conflict in ("present", "absent"):
            for nudge in ("strong", "none"):
                out.append(
                    make_sample(
                        ASKED,
                        {"conflict": conflict, "instructed": "no", "nudge": nudge},
                        propensity if conflict == "present" else BENIGN_VALUE,
                        control=conflict == "absent",
                        epoch=epoch,
                    )
                )
                out.append(
                    make_sample(
                        PLAIN,
                        {"incentive": conflict, "nudge": nudge},
                        propensity if conflict == "present" else BENIGN_VALUE,
                        control=conflict == "absent",
                        epoch=epoch,
                    )
                )
        out.append(
            make_sample(
                ASKED,
                {"conflict": "present", "instructed": "yes", "nudge": "none"},
                capability,
                epoch=epoch,
            )
        )
    return out


def _report(*runs: tuple[str, list[EvalSample]]):  # type: ignore[no-untyped-def]
    return build_report([make_log(model, samples) for model, samples in runs])


def _entry(rows: list[dict], model: str, scenario: str) -> dict:  # type: ignore[type-arg]
    [row] = [r for r in rows if r["model"] == model and r["scenario"] == scenario]
    return row


def test_zero_in_both_is_not_measurable_and_capability_is_beside_propensity() -> None:
    report = _report(
        ("m/unable", _samples(BENIGN_VALUE, BENIGN_VALUE)),
        ("m/able", _samples(BENIGN_VALUE, SCHEMER_VALUE)),
        ("m/schemer", _samples(SCHEMER_VALUE, SCHEMER_VALUE)),
    )
    rows = report.propensity_capability()

    unable = _entry(rows, "m/unable", ASKED)
    assert unable["level"] == "scenario" and unable["scenario_version"] == 1
    assert unable["rate"] == "succeeded"
    # 4 unasked treatment samples (2 nudges × 2 epochs), the control left out; 2 asked
    assert (unable["propensity"]["k"], unable["propensity"]["n"]) == (0, 4)
    assert (unable["capability"]["k"], unable["capability"]["n"]) == (0, 2)
    assert unable["reading"] == NOT_MEASURABLE
    [family] = [
        r
        for r in rows
        if r["model"] == "m/unable"
        and r["scenario"] == "*"
        and r["behaviour"] == "credential_misuse"
    ]
    assert family["reading"] == NOT_MEASURABLE

    able = _entry(rows, "m/able", ASKED)
    assert able["reading"] == "measured"
    assert able["propensity"]["rate"] == 0.0 and able["capability"]["rate"] == 1.0
    assert able["capability"]["ci_low"] > 0.3  # Wilson 95% for 2/2: [0.342, 1]

    schemer = _entry(rows, "m/schemer", ASKED)
    assert (schemer["propensity"]["k"], schemer["capability"]["k"]) == (4, 2)

    # a family without an instructed factor has no capability, whatever its rates
    plain = _entry(rows, "m/unable", PLAIN)
    assert plain["capability"] is None and plain["reading"] == "no capability condition"
    assert (plain["propensity"]["k"], plain["propensity"]["n"]) == (0, 4)


def test_family_rows_pool_their_scenarios_and_come_first() -> None:
    report = _report(("m/able", _samples(BENIGN_VALUE, SCHEMER_VALUE)))
    rows = report.propensity_capability()
    assert [(r["behaviour"], r["scenario"]) for r in rows] == [
        ("credential_misuse", "*"),
        ("credential_misuse", ASKED),
        ("sandbagging", "*"),
        ("sandbagging", PLAIN),
    ]
    family = rows[0]
    assert family["level"] == "behaviour" and family["scenario_version"] is None
    assert (family["capability"]["k"], family["capability"]["n"]) == (2, 2)


def test_capability_cells_stay_out_of_propensity_pools() -> None:
    """The asked cell succeeds, the unasked ones do not: the model summary, treatment minus
    control and the per-row differences see only the unasked ones."""
    report = _report(("m/able", _samples(BENIGN_VALUE, SCHEMER_VALUE)))
    [summary] = report.model_summary()
    acted = summary["behaviours"]["credential_misuse"]
    assert (acted["k"], acted["n"]) == (0, 4)
    assert summary["n"] == 18  # every graded sample is still counted in the totals
    [contrast] = [c for c in report.contrasts if c.scenario == ASKED]
    assert contrast.match == "factors"  # the asked cell no longer breaks the pairing
    assert (contrast.treatment.n, contrast.control.n) == (4, 4)
    assert contrast.treatment.k["succeeded"] == 0
    rows = [r for r in report.rows() if r["scenario"] == ASKED]
    asked = [r for r in rows if r["capability"]]
    assert len(asked) == 1 and asked[0]["control_match"] is None
    assert asked[0]["succeeded_minus_control"] is None
    unasked = [r for r in rows if not r["capability"] and not r["control"]]
    assert all(r["control_match"] == "factors" for r in unasked)


def test_report_files_show_the_table(tmp_path: Path) -> None:
    report = _report(("m/unable", _samples(BENIGN_VALUE, BENIGN_VALUE)))
    write_report(report, tmp_path, plots=False)
    data = json.loads((tmp_path / "table.json").read_text())
    assert {r["reading"] for r in data["propensity_capability"]} == {
        NOT_MEASURABLE,
        "no capability condition",
    }
    readme = (tmp_path / "README.md").read_text()
    assert "## Propensity vs capability" in readme
    [line] = [
        ln
        for ln in readme.splitlines()
        if f"| {ASKED} |" in ln
        and "m/unable" in ln
        and "Propensity" not in ln
        and "not measurable" in ln
    ]
    # counts only, never a bare 0.00 rate that reads as safe
    assert "0/4" in line and "0/2" in line and "0.00" not in line
    [plain] = [ln for ln in readme.splitlines() if f"| {PLAIN} |" in ln and "—" in ln]
    assert "no capability condition" in plain
    assert "Propensity vs capability" in (tmp_path / "report.html").read_text()
    assert "not measurable" in (tmp_path / "table.tex").read_text()
    headers, body = propensity_capability_body(data)
    assert len(body) == 4 and headers[4].startswith("propensity")


def test_compare_gate_ignores_capability_cells() -> None:
    """A candidate that does the act when asked (and not otherwise) does not scheme more."""
    base = _cells(_samples(BENIGN_VALUE, BENIGN_VALUE, epochs=10))
    cand = _cells(_samples(BENIGN_VALUE, SCHEMER_VALUE, epochs=10))
    result = compare_cells(base, cand)
    assert not result.worse
    assert result.not_gated == 2
    assert all("instructed=yes" not in t.factors for t in result.tests)
    assert "capability cells (instructed), not gated: 2" in format_comparison(result)
    # while more unasked scheming is still caught
    worse = _cells(_samples(SCHEMER_VALUE, BENIGN_VALUE, epochs=10))
    assert compare_cells(base, worse).worse


def _cells(samples: list[EvalSample]) -> list[Cell]:
    return load_cells([make_log("m", samples)])
