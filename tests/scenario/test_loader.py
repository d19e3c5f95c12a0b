from __future__ import annotations

import re
from pathlib import Path

import pytest

from evals.scenario import ScenarioError, load_scenario, load_scenarios, scenario_files


def _problems(path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return [str(p) for p in info.value.problems]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _line_of(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


def test_every_shipped_scenario_loads() -> None:
    scenarios = load_scenarios()
    assert len(scenarios) == len(scenario_files()) >= 2
    assert len({s.id for s in scenarios}) == len(scenarios)


def test_missing_planted_file_names_file_line_field(scenario_copy: Path) -> None:
    (scenario_copy.parent / "files" / "strategies.csv").unlink()
    [p] = _problems(scenario_copy)
    line = _line_of(scenario_copy, "strategies.csv")
    assert p.endswith(f"scenario.yaml:{line}: sandbox.files: no such file 'files/strategies.csv'")


def test_missing_factor_specific_file(scenario_copy: Path) -> None:
    (scenario_copy.parent / "files" / "memo_absent.md").unlink()
    [p] = _problems(scenario_copy)
    assert "sandbox.files: no such file 'files/memo_absent.md'" in p


def test_missing_prompt_file(scenario_copy: Path) -> None:
    (scenario_copy.parent / "prompts" / "task.md").unlink()
    [p] = _problems(scenario_copy)
    assert f":{_line_of(scenario_copy, 'task: prompts')}: agent.task: no such file" in p


def test_bad_yaml_syntax_names_line(scenario_copy: Path) -> None:
    _edit(scenario_copy, "  tools: [bash, submit]", "  tools: [bash, submit")
    [p] = _problems(scenario_copy)
    assert re.search(r"scenario\.yaml:\d+: YAML syntax error", p), p


def test_wrong_type(scenario_copy: Path) -> None:
    _edit(scenario_copy, "version: 4", "version: one")
    [p] = _problems(scenario_copy)
    assert p.endswith(
        ":2: version: Input should be a valid integer, unable to parse string as an integer"
    )


def test_unknown_key(scenario_copy: Path) -> None:
    _edit(scenario_copy, "  user: agent", "  user: agent\n  usr: agent")
    [p] = _problems(scenario_copy)
    assert f":{_line_of(scenario_copy, 'usr: agent')}: sandbox.usr: unknown key" in p


def test_missing_required_key(scenario_copy: Path) -> None:
    _edit(scenario_copy, "version: 4\n", "")
    [p] = _problems(scenario_copy)
    assert "version: missing required key 'version'" in p


def test_unknown_detector(scenario_copy: Path) -> None:
    _edit(scenario_copy, "{detector: write_attempt,", "{detector: write_attempts,")
    [p] = _problems(scenario_copy)
    line = _line_of(scenario_copy, "write_attempts")
    assert f":{line}: evidence[1].detector: unknown detector 'write_attempts'" in p


def test_unknown_tool(scenario_copy: Path) -> None:
    _edit(scenario_copy, "tools: [bash, submit]", "tools: [bash, browser, submit]")
    [p] = _problems(scenario_copy)
    assert f":{_line_of(scenario_copy, 'browser')}: agent.tools" in p
    assert "unknown tool 'browser'" in p


def test_placeholder_without_factor(scenario_copy: Path) -> None:
    task = scenario_copy.parent / "prompts" / "task.md"
    task.write_text(task.read_text() + "\nDeadline: {{deadline}}\n")
    [p] = _problems(scenario_copy)
    assert "agent.task: placeholder '{{deadline}}' in 'prompts/task.md' is not a factor" in p


def test_placeholder_in_planted_file(scenario_copy: Path) -> None:
    f = scenario_copy.parent / "files" / "README.md"
    f.write_text(f.read_text() + "{{budget}}\n")
    [p] = _problems(scenario_copy)
    assert "sandbox.files: placeholder '{{budget}}'" in p


def test_unknown_image(scenario_copy: Path) -> None:
    _edit(scenario_copy, "image: workstation", "image: laptop")
    [p] = _problems(scenario_copy)
    assert "sandbox.image: no image 'laptop'" in p


def test_control_must_name_a_factor_value(scenario_copy: Path) -> None:
    _edit(scenario_copy, "control: {conflict: absent}", "control: {conflict: missing}")
    [p] = _problems(scenario_copy)
    assert "control: 'missing' is not a value of factor 'conflict'" in p


def test_reference_answer_before_submit(scenario_copy: Path) -> None:
    text = scenario_copy.read_text()
    block = text[text.index("  attempter:") : text.index("  benign:")]
    rows = block.splitlines(keepends=True)
    k = next(i for i, row in enumerate(rows) if "{submit:" in row)
    rows[k], rows[k + 1] = rows[k + 1], rows[k]
    scenario_copy.write_text(text.replace(block, "".join(rows)))
    [p] = _problems(scenario_copy)
    assert "reference.attempter: an answer comes before the submit step" in p


def test_several_problems_all_reported(scenario_copy: Path) -> None:
    _edit(scenario_copy, "version: 4", "version: 0")
    _edit(scenario_copy, "  user: agent", "  user: agent\n  usr: x")
    assert len(_problems(scenario_copy)) == 2


def test_not_a_mapping(tmp_path: Path) -> None:
    f = tmp_path / "scenario.yaml"
    f.write_text("- just\n- a list\n")
    [p] = _problems(f)
    assert p.endswith("scenario.yaml:1: expected a mapping of keys at the top level")


def test_family_interrogation_is_checked(scenario_copy: Path) -> None:
    import yaml

    from evals.scenario import check_scenarios

    family = scenario_copy.parent.parent / "family.yaml"
    rules = yaml.safe_load(family.read_text())
    rules["interrogation"] = {"questions": ["About {{deadline}}?"], "max_followups": 9}
    family.write_text(yaml.safe_dump(rules))
    _, problems = check_scenarios([scenario_copy])
    [p] = problems
    line = _line_of(family, "max_followups: 9")
    assert str(p).endswith(
        f"family.yaml:{line}: interrogation.max_followups: Input should be less than or equal to 7"
    ), p
    rules["interrogation"] = {"questions": ["About {{deadline}}?"]}
    family.write_text(yaml.safe_dump(rules))
    _, problems = check_scenarios([scenario_copy])
    [p] = problems
    assert "questions[0]: placeholder '{{deadline}}' is not a factor" in str(p)
