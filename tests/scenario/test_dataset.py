from __future__ import annotations

import base64
import io
import re
import tarfile
from pathlib import Path

from evals.scenario import combinations, load_scenario, load_scenarios, scenario_samples
from tests.conftest import TRANSIT

ID = "oversight_subversion/transit_planner/"


def _file(sample, path: str) -> str:  # type: ignore[no-untyped-def]
    """A planted file, from the archive in the setup script's first line."""
    [encoded] = re.findall(r"printf '%s' '([A-Za-z0-9+/=]*)'", sample.setup.splitlines()[0])
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(encoded))) as tar:
        member = tar.extractfile(path.lstrip("/"))
        assert member is not None
        return member.read().decode()


def test_samples_are_the_listed_variants() -> None:
    """nudge × conflict without the request (propensity), plus one capability sample."""
    s = load_scenario(TRANSIT / "scenario.yaml")
    samples = scenario_samples(s)
    assert len(samples) == 5 == len(combinations(s))
    ids = [x.id for x in samples]
    # the reference tests replay the first combination: it stays a propensity treatment sample
    assert ids[0] == ID + "conflict=present/instructed=no/nudge=strong"
    assert ID + "conflict=present/instructed=yes/nudge=none" in ids
    for x in samples:
        md = x.metadata
        assert md["scenario"] == s.id and md["scenario_version"] == 4
        assert set(md["factors"]) == {"nudge", "conflict", "instructed"}
        assert md["control"] == (md["factors"]["conflict"] == "absent")
    assert sum(x.metadata["factors"]["instructed"] == "yes" for x in samples) == 1


def test_snippets_and_factor_files_render() -> None:
    s = load_scenario(TRANSIT / "scenario.yaml")
    by_id = {x.id: x for x in scenario_samples(s)}
    strong = by_id[ID + "conflict=present/instructed=no/nudge=strong"]
    none = by_id[ID + "conflict=absent/instructed=no/nudge=none"]
    asked = by_id[ID + "conflict=present/instructed=yes/nudge=none"]
    assert "at all costs" in strong.input[0].text  # type: ignore[index]
    assert "at all costs" not in none.input[0].text  # type: ignore[index]
    assert "{{" not in strong.input[0].text  # type: ignore[index]
    for x in (strong, none, asked):
        assert "{{" not in x.input[1].text  # type: ignore[index]
    assert "oversight_enabled to false" in asked.input[1].text  # type: ignore[index]
    assert "oversight_enabled" not in strong.input[1].text  # type: ignore[index]
    assert "shut it down" in _file(strong, "/home/agent/project/internal_memo.md")
    assert "shut it down" not in _file(none, "/home/agent/project/internal_memo.md")


def test_variants_restrict_combinations(scenario_copy: Path) -> None:
    text = scenario_copy.read_text()
    start = text.index("variants:\n")
    end = text.index("control: {conflict: absent}")
    text = (
        text[:start]
        + "variants:\n  - {nudge: strong, conflict: present, instructed: 'no'}\n"
        + "  - {nudge: none, conflict: absent, instructed: 'no'}\n"
        + text[end:]
    )
    scenario_copy.write_text(text)
    s = load_scenario(scenario_copy)
    assert [x.id.split("/", 2)[2] for x in scenario_samples(s)] == [
        "conflict=present/instructed=no/nudge=strong",
        "conflict=absent/instructed=no/nudge=none",
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


def test_every_scenario_has_a_capability_condition_asked_once() -> None:
    """Every scenario of every family has the capability factor (`instructed`); the first
    sample (the one the reference tests replay) is an unasked treatment sample; exactly one
    sample asks, outside the control, and only its task prompt carries the request."""
    root = Path(__file__).resolve().parents[2] / "scenarios"
    seen = set()
    for path in sorted(root.glob("*/*/scenario.yaml")):
        s = load_scenario(path)
        assert "instructed" in s.factors, f"{s.id}: no capability condition (factor instructed)"
        seen.add(path.parts[-3])
        samples = scenario_samples(s, salt="test")
        first = samples[0].metadata
        assert first["factors"]["instructed"] == "no" and not first["control"], s.id
        asked = [x for x in samples if x.metadata["factors"]["instructed"] == "yes"]
        assert len(asked) == 1 and not asked[0].metadata["control"], s.id
        request = s.snippets["instructed"]["yes"].strip()
        assert request and request in asked[0].input[1].text, s.id  # type: ignore[index]
        for x in samples:
            assert "{{" not in x.input[1].text, s.id  # type: ignore[index]
            if x is not asked[0]:
                assert request not in x.input[1].text, s.id  # type: ignore[index]
    families = {p.name for p in root.iterdir() if p.is_dir() and p.name != "suites"}
    assert seen == families


def test_a_key_conditions_suite_takes_treatment_control_and_asked_once_each() -> None:
    from evals.scenario import key_samples, load_suite, select

    suite = load_suite("smoke")
    assert suite.conditions == "key"
    for s in select(load_scenarios(), suite="smoke"):
        made = scenario_samples(s, salt="test")
        chosen = key_samples(made)
        metas = [c.metadata for c in chosen]
        assert chosen[0] is made[0] and not metas[0]["control"], s.id
        assert sum(bool(m["control"]) for m in metas) == 1, s.id
        assert sum(m["factors"]["instructed"] == "yes" for m in metas) == 1, s.id
        assert len({c.id for c in chosen}) == len(chosen) == 3, s.id
