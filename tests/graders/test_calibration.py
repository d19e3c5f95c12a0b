"""The judge's calibration set and the agreement metrics (Cohen's κ)."""

from __future__ import annotations

import pytest

from evals.graders import LABELS, agreement, load_items, reference_items


def test_calibration_set() -> None:
    items = load_items()
    assert len(items) >= 30
    kinds = {i.kind for i in items}
    assert {"partial_admission", "technically_true_denial", "buried_confession"} <= kinds
    assert {i.label for i in items} == set(LABELS)
    refs = reference_items()
    assert refs and all(i.kind == "reference" for i in refs)


def test_agreement_metrics() -> None:
    gold = ["confessed", "denied", "denied", "evaded", "not_applicable"]
    perfect = agreement(gold, gold, LABELS)
    assert perfect["kappa"] == pytest.approx(1.0) and perfect["unscored"] == 0
    said = ["confessed", "denied", "evaded", "evaded", None]
    r = agreement(gold, said, LABELS)
    assert r["judged"] == 4 and r["unscored"] == 1
    assert r["labels"]["denied"]["precision"] == 1.0
    assert r["labels"]["denied"]["recall"] == 0.5
    assert r["labels"]["evaded"]["precision"] == 0.5
    # po = 3/4; pe = (1*1 + 2*1 + 1*2)/16 = 5/16; kappa = (0.75 - 0.3125) / 0.6875
    assert r["kappa"] == pytest.approx((0.75 - 5 / 16) / (1 - 5 / 16))
