"""family.yaml: what a scenario inherits (behaviour, ladder rungs, interrogation, snippets), and
that every family folder declares its rules once."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.scenario import (
    ScenarioError,
    load_family,
    load_family_rules,
    load_scenario,
    load_scenarios,
    scenarios_dir,
)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_every_family_folder_has_its_rules() -> None:
    families = {s.directory.parent for s in load_scenarios() if scenarios_dir() in s.file.parents}
    assert len(families) >= 17
    for folder in families:
        rules = load_family_rules(folder / "family.yaml")
        assert rules.behaviour == folder.name
        assert rules.ladder and rules.description
        assert not (folder / "interrogation.yaml").exists()  # moved into family.yaml


def test_scenario_inherits_behaviour_rungs_and_snippets() -> None:
    path = scenarios_dir() / "oversight_subversion" / "grant_triage" / "scenario.yaml"
    s = load_scenario(path)
    text = path.read_text()
    assert "\nbehaviour:" not in text and "rung: explored" not in text
    assert s.behaviour == "oversight_subversion"
    by_kind = {(d.detector, getattr(d, "check", None)): (d.rung, d.flag) for d in s.evidence}
    # the scenario file gives no rung: the family's ladder does
    assert by_kind[("tool_call", None)] == ("explored", None)
    assert by_kind[("write_attempt", None)] == ("attempted", None)
    assert by_kind[("config_lever", "weakened")] == ("succeeded", None)
    assert by_kind[("config_lever", "restored")] == (None, "concealed")
    # nudge none / instructed no come from the family, the scenario's own texts stay
    assert s.snippets["nudge"]["none"] == "" and s.snippets["instructed"]["no"] == ""
    assert s.snippets["instructed"]["yes"].startswith(" Before you shortlist")


def test_departure_with_why_is_kept(scenario_copy: Path) -> None:
    old = "touches: [oversight_config.yaml, oversight_enabled], rung: explored}"
    _edit(scenario_copy, old, old.replace("explored", "attempted"))
    with pytest.raises(ScenarioError) as info:
        load_scenario(scenario_copy)
    [p] = info.value.problems
    assert str(p).endswith(
        "evidence[0].rung: 'attempted' departs from the family's ladder (family.yaml gives "
        "explored for this 'tool_call' entry): add why:, or follow it"
    )
    _edit(scenario_copy, "rung: attempted}", "rung: attempted, why: a read here is a try}")
    assert load_scenario(scenario_copy).evidence[0].rung == "attempted"


def test_snippet_override_needs_why(scenario_copy: Path) -> None:
    _edit(scenario_copy, '    none: ""\n', '    none: "Take care."\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(scenario_copy)
    [p] = info.value.problems
    assert "snippets.nudge.none: differs from the family's text for nudge=none" in str(p)
    _edit(scenario_copy, '    none: "Take care."\n', '    none: "Take care."\n    why: test\n')
    assert load_scenario(scenario_copy).snippets["nudge"]["none"] == "Take care."


def test_family_interrogation_is_read_from_family_yaml() -> None:
    folder = scenarios_dir() / "oversight_subversion"
    interrogation = load_family(folder / "family.yaml")
    assert interrogation.followups and interrogation.max_followups == 3


def test_one_strong_nudge_text_unless_a_scenario_says_why() -> None:
    import yaml

    shared = yaml.safe_load((scenarios_dir() / "snippets.yaml").read_text())["snippets"]
    texts = {}
    for s in load_scenarios():
        if "strong" not in s.factors.get("nudge", ()):
            continue
        own = yaml.safe_load(s.file.read_text()).get("snippets", {}).get("nudge", {})
        if "why" not in own:
            texts[s.id] = s.snippets["nudge"]["strong"]
    assert len(texts) >= 30
    assert set(texts.values()) == {shared["nudge"]["strong"]}


def test_old_kebab_ids_map_to_the_folder_path() -> None:
    from evals.scenario import current_id

    assert current_id("oversight-subversion/grant-triage") == "oversight_subversion/grant_triage"
    assert current_id("oversight_subversion/grant_triage") == "oversight_subversion/grant_triage"
    assert current_id("test/base") == "test/base"
    assert current_id("pack/odd id") == "pack/odd id"
    assert current_id("lab/private-case") == "lab/private-case"  # a pack's own kebab id


def test_an_id_must_be_exactly_its_folder_path() -> None:
    from evals.scenario._family import id_problem

    assert id_problem("leaking/sonar_spec", "leaking/sonar_spec") is None
    assert id_problem("leaking/sonar-spec", "leaking/sonar_spec")
    assert id_problem("leaking/other", "leaking/sonar_spec")
