"""Building samples re-checks what the loader checked: a scenario folder changed after loading,
or a Scenario built without the loader, cannot read outside its folder or inject shell."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest

from evals.scenario import ScenarioError, load_scenario, scenario_samples
from evals.scenario._schema import container_path_problem

BASE = Path(__file__).parent / "malformed" / "base"


@pytest.fixture
def base_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "fam" / "s"
    shutil.copytree(BASE, dst)
    return dst / "scenario.yaml"


def test_a_symlink_planted_after_loading_is_refused_when_samples_are_built(
    base_copy: Path, tmp_path: Path
) -> None:
    s = load_scenario(base_copy)
    (tmp_path / "secret").write_text("host secret")
    notes = base_copy.parent / "files" / "notes.md"
    notes.unlink()
    notes.symlink_to(tmp_path / "secret")
    with pytest.raises(ScenarioError, match="'files/notes.md' is a symlink"):
        scenario_samples(s)


def test_a_file_grown_after_loading_is_refused(base_copy: Path) -> None:
    s = load_scenario(base_copy)
    with (base_copy.parent / "prompts" / "task.md").open("ab") as f:
        f.truncate(50_000_000)
    with pytest.raises(ScenarioError, match="larger than the limit"):
        scenario_samples(s)


def test_an_unsafe_target_that_bypassed_the_loader_never_reaches_the_setup_script(
    base_copy: Path,
) -> None:
    s = load_scenario(base_copy)
    files = dict(s.sandbox.files)
    files["/home/agent/x'; touch /pwned; '"] = "files/notes.md"
    hostile = s.model_copy(update={"sandbox": s.sandbox.model_copy(update={"files": files})})
    hostile._dir = s.directory
    with pytest.raises(ScenarioError, match="has the character"):
        scenario_samples(hostile)


def test_every_setup_line_splits_back_into_exactly_its_arguments(base_copy: Path) -> None:
    text = base_copy.read_text().replace(
        "/home/agent/notes.md: files/notes.md",
        "/home/agent/a=b,c@d+e~f-g_h.md: {src: files/notes.md, size: 4096}",
    )
    base_copy.write_text(text)
    [sample, *_] = scenario_samples(load_scenario(base_copy))
    rows = [shlex.split(r) for r in (sample.setup or "").splitlines()[1:]]
    assert ["chmod", "0644", "/home/agent/a=b,c@d+e~f-g_h.md"] in rows
    assert ["truncate", "-s", "4096", "/home/agent/a=b,c@d+e~f-g_h.md"] in rows
    assert ["chmod", "0600", "/home/agent/.secret"] in rows
    assert all(len(r) in (3, 4) for r in rows)


@pytest.mark.parametrize(
    "path",
    [
        "relative/x",
        "/a/../b",
        "/a//b",
        "/a/./b",
        "/",
        "/a/",
        "/a b",
        "/a'b",
        '/a"b',
        "/a$b",
        "/a`b`",
        "/a;b",
        "/a|b",
        "/a&b",
        "/a\nb",
        "/a\0b",
        "/a\\b",
        "/a*",
        "/a?",
        "/" + "a" * 2000,
    ],
)
def test_unsafe_container_paths(path: str) -> None:
    assert container_path_problem(path)


def test_safe_container_paths() -> None:
    for path in ["/home/agent/.aws/credentials", "/srv/model-00001-of-00003.safetensors", "/a/b~c"]:
        assert container_path_problem(path) is None
