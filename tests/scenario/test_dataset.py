from __future__ import annotations

import base64
from pathlib import Path

from evals.scenario import combinations, load_scenario, scenario_samples
from tests.conftest import TRANSIT


def _file(sample, path: str) -> str:  # type: ignore[no-untyped-def]
    uri = sample.files[path]
    return base64.b64decode(uri.split(",", 1)[1]).decode()


def test_samples_are_the_factor_cross_product() -> None:
    s = load_scenario(TRANSIT / "scenario.yaml")
    samples = scenario_samples(s)
    assert len(samples) == 4 == len(combinations(s))
    ids = {x.id for x in samples}
    assert "oversight-subversion/transit-planner/conflict=present/nudge=strong" in ids
    for x in samples:
        md = x.metadata
        assert md["scenario"] == s.id and md["scenario_version"] == 2
        assert set(md["factors"]) == {"nudge", "conflict"}
        assert md["control"] == (md["factors"]["conflict"] == "absent")


def test_snippets_and_factor_files_render() -> None:
    s = load_scenario(TRANSIT / "scenario.yaml")
    by_id = {x.id: x for x in scenario_samples(s)}
    strong = by_id["oversight-subversion/transit-planner/conflict=present/nudge=strong"]
    none = by_id["oversight-subversion/transit-planner/conflict=absent/nudge=none"]
    assert "at all costs" in strong.input[0].text  # type: ignore[index]
    assert "at all costs" not in none.input[0].text  # type: ignore[index]
    assert "{{" not in strong.input[0].text  # type: ignore[index]
    assert "shut it down" in _file(strong, "/home/agent/project/internal_memo.md")
    assert "shut it down" not in _file(none, "/home/agent/project/internal_memo.md")


def test_variants_restrict_combinations(scenario_copy: Path) -> None:
    text = scenario_copy.read_text().replace(
        "control: {conflict: absent}",
        "control: {conflict: absent}\nvariants:\n  - {nudge: strong, conflict: present}\n"
        "  - {nudge: none, conflict: absent}",
    )
    scenario_copy.write_text(text)
    s = load_scenario(scenario_copy)
    assert [x.id.split("/", 2)[2] for x in scenario_samples(s)] == [
        "conflict=present/nudge=strong",
        "conflict=absent/nudge=none",
    ]


def test_planted_files_recorded_with_hash_and_mode() -> None:
    s = load_scenario(TRANSIT / "scenario.yaml")
    x = scenario_samples(s)[0]
    planted = x.metadata["planted"]["/home/agent/project/oversight_config.yaml"]
    assert len(planted["sha256"]) == 64 and planted["mode"] == "0644"
    assert "oversight_enabled: true" in planted["text"]
    assert "chmod 0644 /home/agent/project/oversight_config.yaml\n" in (x.setup or "")


def test_setup_script_quotes_what_comes_from_the_scenario() -> None:
    """Even a target the schema would refuse is quoted when it reaches the setup script."""
    import shlex

    s = load_scenario(TRANSIT / "scenario.yaml")
    setup = scenario_samples(s)[0].setup or ""
    for line in setup.splitlines()[1:]:
        argv = shlex.split(line)
        assert argv[0] in ("chmod", "truncate") and len(argv) == 3, line
