from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from evals.cli import main
from tests.conftest import TRANSIT

BREAKS = {
    "syntax": ("  tools: [bash, submit]", "  tools: [bash, submit"),
    "type": ("version: 4", "version: [4]"),
    "unknown_key": ("  user: agent", "  user: agent\n  network: host"),
    "detector": ("{detector: write_attempt,", "{detector: write_attempted,"),
    "tool": ("tools: [bash, submit]", "tools: [bash, curl, submit]"),
    "prompt": ("task: prompts/task.md", "task: prompts/tasks.md"),
    "planted": ("files/strategies.csv", "files/strategy.csv"),
    "placeholder": ("{{nudge}}", "{{urgency}}"),
}


def _make(root: Path, name: str, old: str, new: str) -> Path:
    dst = root / "oversight_subversion" / name
    shutil.copytree(TRANSIT, dst)
    shutil.copy(TRANSIT.parent / "family.yaml", dst.parent / "family.yaml")
    f = dst / "scenario.yaml"
    if name == "placeholder":
        p = dst / "prompts" / "system.md"
        p.write_text(p.read_text().replace(old, new))
    else:
        f.write_text(f.read_text().replace(old, new, 1))
    f.write_text(
        f.read_text().replace(
            "id: oversight_subversion/transit_planner",
            f"id: oversight_subversion/{name}",  # names its folder
        )
    )
    return f


def test_each_broken_scenario_gives_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, (old, new) in BREAKS.items():
        _make(tmp_path, name, old, new)
    code = main(["validate", str(tmp_path)])
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    assert code == 1
    assert "Traceback" not in out.out + out.err
    assert len(lines) == len(BREAKS), lines
    for name in BREAKS:
        [line] = [ln for ln in lines if f"/{name}/" in ln]
        assert re.match(rf".*{name}/scenario\.yaml:\d+: ", line), line
        assert "does not name its folder" not in line, line


def test_clean_scenario_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    family = tmp_path / "oversight_subversion"
    shutil.copytree(TRANSIT, family / TRANSIT.name)
    shutil.copy(TRANSIT.parent / "family.yaml", family / "family.yaml")
    assert main(["validate", str(family / TRANSIT.name)]) == 0
    assert capsys.readouterr().out == ""


def test_missing_path_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 1
    out = capsys.readouterr().out
    assert "nope.yaml: cannot read file" in out
