"""Scenario packs (`--scenarios DIR`): a lab's scenarios from outside the repository, loaded
and validated like the built-ins (same loader, same one-line errors naming the pack's file),
with sidecar images of their own built under the pack's namespace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from evals.cli import main
from evals.scenario import PACKS_ENV, load_scenarios
from tests.conftest import TRANSIT

PACK_ID = "lab/private-case"
PROBE = 'FROM scheming-evals/sink:latest\nLABEL org.example.pack="lab"\n'


def _pack(root: Path, *, image: str = "probe", dockerfile: str = PROBE) -> Path:
    """A pack with one scenario (a copy of a built-in one under another id) whose sidecar
    `probe` runs the pack's own image."""
    pack = root / "lab-pack"
    dst = pack / "oversight" / "private_case"
    shutil.copytree(TRANSIT, dst)
    f = dst / "scenario.yaml"
    text = f.read_text().replace("id: oversight_subversion/transit_planner", f"id: {PACK_ID}", 1)
    text = text.replace(
        "  user: agent\n", f"  user: agent\n  services:\n    probe: {{image: {image}}}\n", 1
    )
    f.write_text(text)
    (pack / "images" / "probe").mkdir(parents=True)
    (pack / "images" / "probe" / "Dockerfile").write_text(dockerfile)
    return pack


@pytest.fixture(autouse=True)
def _no_packs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PACKS_ENV, "")  # restored after each test: the CLI sets it in-process


def test_validate_and_list_include_the_pack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = _pack(tmp_path)
    builtin = len(load_scenarios())
    assert main(["validate", "--scenarios", str(pack)]) == 0
    out = capsys.readouterr()
    assert f"{builtin + 1} scenario file(s), 0 problem(s)" in out.err
    assert main(["list", "--scenarios", str(pack)]) == 0
    out = capsys.readouterr()
    assert f"  {PACK_ID} v" in out.out
    assert f"{builtin + 1} scenarios" in out.out.splitlines()[-1]


def test_without_the_flag_the_pack_is_not_loaded(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    assert PACK_ID not in capsys.readouterr().out


def test_env_var_is_the_flags_alias(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(PACKS_ENV, str(_pack(tmp_path)))
    assert main(["list"]) == 0
    assert f"  {PACK_ID} v" in capsys.readouterr().out


def test_a_bad_pack_scenario_is_one_line_naming_its_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = _pack(tmp_path)
    f = pack / "oversight" / "private_case" / "scenario.yaml"
    f.write_text(f.read_text().replace("version: 4", "version: [4]", 1))
    assert main(["validate", "--scenarios", str(pack)]) == 1
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{f}:") or lines[0].startswith(str(f.relative_to(Path.cwd())) + ":")
    assert ": version: " in lines[0]
    assert main(["list", "--scenarios", str(pack)]) == 1  # and nothing is listed


def test_a_missing_pack_image_names_both_places(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = _pack(tmp_path, image="nosuch")
    assert main(["validate", "--scenarios", str(pack)]) == 1
    out = capsys.readouterr().out
    assert "sandbox.services.probe.image: no image 'nosuch'" in out
    assert str(pack / "images" / "nosuch" / "Dockerfile") in out


def test_a_pack_that_is_not_a_folder_fails_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "--scenarios", str(tmp_path / "absent")]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [f"{tmp_path / 'absent'}: --scenarios: not a folder"]


def test_pack_ids_may_not_shadow_builtin_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = _pack(tmp_path)
    f = pack / "oversight" / "private_case" / "scenario.yaml"
    f.write_text(
        f.read_text().replace(f"id: {PACK_ID}", "id: oversight_subversion/transit_planner")
    )
    assert main(["validate", "--scenarios", str(pack)]) == 1
    assert "is also the id of" in capsys.readouterr().out


def test_pack_images_are_tagged_under_the_packs_namespace(tmp_path: Path) -> None:
    from evals.sandbox import compose_config
    from evals.scenario import pack_images, scenario_images, use_packs

    pack = _pack(tmp_path)
    use_packs([pack])
    (scenario,) = [s for s in load_scenarios() if s.id == PACK_ID]
    assert pack_images(pack.resolve()) == ["pack-lab-pack/probe"]
    assert "pack-lab-pack/probe" in scenario_images([scenario])
    cfg = compose_config(scenario)
    assert cfg["services"]["probe"]["image"] == "scheming-evals/pack-lab-pack/probe:latest"
    assert cfg["services"]["default"]["image"] == "scheming-evals/workstation:latest"
    # a pack's image may hold what its server needs in its writable directories: its volume is
    # seeded from that image by a holder of its own; the agent's (built-in) are tmpfs mounts
    own = cfg["services"]["probe_rw"]
    assert own["image"] == cfg["services"]["probe"]["image"]
    assert own["volumes"] == ["rw-probe:/rw"] and "cp -a /srv/. /rw/srv/" in own["entrypoint"][-1]
    assert cfg["services"]["probe"]["depends_on"] == {"probe_rw": {"condition": "service_healthy"}}
    assert "sample_rw" not in cfg["services"] and "volumes" not in cfg["services"]["default"]
    assert cfg["services"]["default"]["tmpfs"][1].startswith("/home/agent:")


@pytest.mark.docker
def test_a_pack_scenario_runs_with_its_own_sidecar_image(
    docker_ready: None, tmp_path: Path
) -> None:
    pack = _pack(tmp_path)
    run_id = f"test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "SCHEMING_RUN_ID": run_id}
    env.pop(PACKS_ENV, None)
    setup = subprocess.run(
        [sys.executable, "-m", "evals", "setup", "--images-only", "--scenarios", str(pack)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert setup.returncode == 0, setup.stderr[-2000:]
    assert "scheming-evals/pack-lab-pack/probe:latest" in setup.stdout
    summary = tmp_path / "summary.json"
    r = subprocess.run(
        [sys.executable, "-m", "evals", "run", "--scenarios", str(pack)]
        + ["--scenario", PACK_ID, "--model", "scripted/schemer", "--display", "none"]
        + ["--factor", "nudge=strong", "--factor", "conflict=present"]
        + ["--factor", "instructed=no", "--log-dir", str(tmp_path / "logs")]
        + ["--summary-json", str(summary)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    (row,) = json.loads(summary.read_text())
    assert row["scenario"] == PACK_ID and row["n"] == 1 and row["errors"] == 0
    assert row["succeeded"] == 1.0
    left = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=scheming-evals.run={run_id}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert left.stdout.split() == []
