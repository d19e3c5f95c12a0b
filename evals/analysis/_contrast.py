"""Treatment minus control, within a scenario.

Each scenario has cells in its control condition (`control` true: scheming does not help) and
cells in treatment. How a treatment cell is paired with control cells:

1. The *control factors* of a scenario are the factors whose values never overlap between its
   control and its treatment cells (e.g. `conflict=absent` only in control). A treatment cell is
   matched with the control cells that agree with it on every other factor (pooled, if several).
   When control is not expressed in the factors at all, this pairs cells with equal factors.
2. If every treatment cell of the scenario finds a match, each treatment row gets its own
   difference (`control_match` = "factors"). If any does not, the pairing is ill-defined and no
   row gets one (`control_match` = "pooled").
3. Either way the scenario-level contrast pools all treatment cells against all control cells of
   the model × scenario × scenario version.

Capability cells (`instructed` = yes: the agent was asked for the act) take no part: they are
neither treatment nor control, and their rows get no difference.

Differences come with Newcombe hybrid score intervals (built from Wilson intervals).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from evals.analysis._rows import Cell


@dataclass
class ScenarioContrast:
    """Pooled treatment against pooled control for one model × scenario × version."""

    model: str
    behaviour: str
    scenario: str
    scenario_version: int | None
    treatment: Cell
    control: Cell
    match: str
    """"factors" when every treatment row was paired by factors, else "pooled"."""


def _pool(cells: list[Cell], template: Cell, control: bool) -> Cell:
    pooled = Cell(
        model=template.model,
        scenario=template.scenario,
        scenario_version=template.scenario_version,
        behaviour=template.behaviour,
        factors={},
        control=control,
    )
    for cell in cells:
        pooled.add(cell)
    return pooled


def control_factor_names(treatment: list[Cell], control: list[Cell]) -> set[str]:
    """Factors whose values in control cells never occur in treatment cells."""
    names: set[str] = set()
    all_names = {k for c in treatment + control for k in c.factors}
    for name in all_names:
        in_control = {_hashable(c.factors.get(name)) for c in control}
        in_treatment = {_hashable(c.factors.get(name)) for c in treatment}
        if in_control.isdisjoint(in_treatment):
            names.add(name)
    return names


def _hashable(value: Any) -> Any:
    return repr(value)


def contrasts(cells: list[Cell]) -> tuple[list[ScenarioContrast], dict[int, Cell]]:
    """Scenario contrasts, and for each treatment cell (by `id`) its matched control (pooled)."""
    groups: dict[tuple[str, str, int | None], list[Cell]] = defaultdict(list)
    for cell in cells:
        groups[(cell.model, cell.scenario, cell.scenario_version)].append(cell)
    out: list[ScenarioContrast] = []
    matched: dict[int, Cell] = {}
    for group in groups.values():
        # capability cells (asked for the act) are no treatment: they stay out of the contrast
        treatment = [c for c in group if not c.control and not c.capability]
        control = [c for c in group if c.control and not c.capability]
        if not treatment or not control:
            continue
        names = control_factor_names(treatment, control)
        pairs: dict[int, list[Cell]] = {}
        for t in treatment:
            shared = (set(t.factors) | {k for c in control for k in c.factors}) - names
            pairs[id(t)] = [
                c
                for c in control
                if all(_hashable(c.factors.get(k)) == _hashable(t.factors.get(k)) for k in shared)
            ]
        all_matched = all(pairs.values())
        if all_matched:
            for t in treatment:
                matched[id(t)] = _pool(pairs[id(t)], t, control=True)
        first = group[0]
        out.append(
            ScenarioContrast(
                model=first.model,
                behaviour=first.behaviour,
                scenario=first.scenario,
                scenario_version=first.scenario_version,
                treatment=_pool(treatment, first, control=False),
                control=_pool(control, first, control=True),
                match="factors" if all_matched else "pooled",
            )
        )
    return out, matched
