"""The malformed-scenario corpus (tests/scenario/malformed/cases.yaml): every case breaks one thing
in a small valid scenario (malformed/base) and must give exactly one line `file:line: field: what`,
fast, with no traceback; `scheming validate` exits 1 on it.

Case keys (all optional but `name`, `category` and `expect`):
  replace: [[old, new], ...]   edits of base/scenario.yaml (`old` must occur)
  yaml: text                   the whole scenario.yaml instead
  write: {rel: text}           files written (rel to the scenario folder, or ../family.yaml;
                               ${family} in the text is the family folder's name)
  remove: [rel]                files removed
  fifo / socket / mkdir: [rel] special files made at test time (a FIFO, a unix socket, a folder)
  symlink: {rel: target}       "@outside" is a host file outside the scenario folder
  sparse: {rel: bytes}         a sparse file of that size (no disk used)
  expect: {file, line, field, phrase}: file defaults to scenario.yaml; line is a number, "@text"
          (the line of the first occurrence of text in that file) or null (no line); field ""
          when the problem has none.
  subprocess: true             also run `python -m evals validate` on it in its own process
Text may hold `${repeat N}...${/repeat}`, expanded at test time (bombs, huge documents).
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from evals.cli import main
from evals.scenario import check_scenarios

HERE = Path(__file__).parent / "malformed"
BASE = HERE / "base"
CASES: list[dict[str, Any]] = yaml.safe_load((HERE / "cases.yaml").read_text(encoding="utf-8"))
BY_NAME = {c["name"]: c for c in CASES}
CASE_SECONDS = 5.0
_REPEAT = re.compile(r"\$\{repeat (\d+)\}(.*?)\$\{/repeat\}", re.DOTALL)


def _expand(text: str) -> str:
    return _REPEAT.sub(lambda m: m.group(2) * int(m.group(1)), text)


def _build(root: Path, index: int, case: dict[str, Any]) -> Path:
    """The case's scenario folder: root/cNNN/s (the family folder is root/cNNN)."""
    family = root / f"c{index:03d}"
    folder = family / "s"
    shutil.copytree(BASE, folder)
    outside = root / "host-secret.txt"
    outside.write_text("root:x:0:0:host secret\n")
    scenario = folder / "scenario.yaml"
    if "yaml" in case:
        scenario.write_text(_expand(case["yaml"]), encoding="utf-8")
    text = scenario.read_text(encoding="utf-8")
    for old, new in case.get("replace", []):
        assert old in text, f"{case['name']}: {old!r} not in the base scenario"
        text = text.replace(old, _expand(new), 1)
    # ids unique across cases, so that one `validate` run can take many of them
    # (a family with family.yaml checks that the id names the folder: cNNN/s)
    own = f"c{index:03d}/s" if "../family.yaml" in case.get("write", {}) else f"test/c{index:03d}"
    text = text.replace("id: test/base\n", f"id: {own}\n", 1)
    scenario.write_text(text, encoding="utf-8")
    for rel, content in case.get("write", {}).items():
        f = folder / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            f.write_bytes(content)
        else:
            f.write_text(_expand(content).replace("${family}", family.name), encoding="utf-8")
    for rel in case.get("remove", []) + case.get("fifo", []) + case.get("socket", []):
        with contextlib.suppress(FileNotFoundError):
            (folder / rel).unlink()
    for rel in case.get("mkdir", []):
        (folder / rel).unlink(missing_ok=True)
        (folder / rel).mkdir(parents=True)
    for rel in case.get("fifo", []):
        os.mkfifo(folder / rel)
    for rel in case.get("socket", []):
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(str(folder / rel))
    for rel, target in case.get("symlink", {}).items():
        link = folder / rel
        if link.is_dir() and not link.is_symlink():
            shutil.rmtree(link)
        link.unlink(missing_ok=True)
        link.symlink_to(outside if target == "@outside" else target)
    for rel, size in case.get("sparse", {}).items():
        f = folder / rel
        f.unlink(missing_ok=True)
        with f.open("wb") as fh:
            fh.truncate(int(size))
    return folder


def _expected(folder: Path, case: dict[str, Any]) -> tuple[str, str]:
    """(exact start of the line, phrase it must contain)."""
    exp = case["expect"]
    file = Path(os.path.normpath(folder / exp.get("file", "scenario.yaml")))
    line = exp.get("line")
    if isinstance(line, str):
        needle = line[1:]
        text = file.read_text(encoding="utf-8")
        line = next(i for i, row in enumerate(text.splitlines(), 1) if needle in row)
    where = f"{file}:{line}" if line else str(file)
    field = exp.get("field", "")
    return (f"{where}: {field}: " if field else f"{where}: "), exp["phrase"]


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Fail a case that takes too long (SIGALRM interrupts even a blocking open or read)."""

    def expired(*_: Any) -> None:
        raise TimeoutError(f"took longer than {seconds}s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mal")
    return {c["name"]: _build(root, i, c) for i, c in enumerate(CASES)}


def test_corpus_is_big_and_well_formed() -> None:
    assert len(CASES) >= 110
    assert len(BY_NAME) == len(CASES), "case names must be unique"
    categories = {c["category"] for c in CASES}
    assert categories >= {
        "syntax",
        "types",
        "unknown_key",
        "missing",
        "traversal",
        "injection",
        "bomb",
        "special",
    }
    for c in CASES:
        assert set(c) <= {
            "name",
            "category",
            "replace",
            "yaml",
            "write",
            "remove",
            "fifo",
            "socket",
            "mkdir",
            "symlink",
            "sparse",
            "expect",
            "subprocess",
        }, c["name"]
        assert {"phrase"} <= set(c["expect"]), c["name"]


def test_base_scenario_is_valid() -> None:
    scenarios, problems = check_scenarios([BASE])
    assert problems == [] and [s.id for s in scenarios] == ["test/base"]


@pytest.mark.parametrize("name", list(BY_NAME))
def test_case_through_the_loader(name: str, built: dict[str, Path]) -> None:
    case, folder = BY_NAME[name], built[name]
    t0 = time.monotonic()
    with _deadline(CASE_SECONDS):
        _, problems = check_scenarios([folder])
    assert time.monotonic() - t0 < CASE_SECONDS
    lines = [str(p) for p in problems]
    assert len(lines) == 1, lines
    [line] = lines
    start, phrase = _expected(folder, case)
    assert line.startswith(start), f"{line!r} does not start with {start!r}"
    assert phrase in line[len(start) :], f"{phrase!r} not in {line!r}"
    assert "\n" not in line and "Traceback" not in line


@pytest.mark.parametrize("name", list(BY_NAME))
def test_case_through_the_cli(
    name: str, built: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    case, folder = BY_NAME[name], built[name]
    with _deadline(CASE_SECONDS):
        code = main(["validate", str(folder)])
    out = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in out.out + out.err
    start, phrase = _expected(folder, case)
    [line] = out.out.splitlines()
    assert line.startswith(start) and phrase in line, line
    assert out.err.strip().splitlines() == ["1 scenario file(s), 1 problem(s)"]


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    two_gib = 2 << 30
    resource.setrlimit(resource.RLIMIT_AS, (two_gib, two_gib))


def test_hang_prone_cases_in_a_real_process(built: dict[str, Path]) -> None:
    """`scheming validate` in its own process, memory-capped, with a timeout: FIFOs, /dev/zero,
    huge files and bombs end in one line each and exit code 1."""
    chosen = [c["name"] for c in CASES if c.get("subprocess")]
    assert len(chosen) >= 10
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "evals", "validate", *(str(built[n]) for n in chosen)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        preexec_fn=_limit_memory,  # noqa: PLW1509 - no threads in the child yet
        check=False,
    )
    assert time.monotonic() - t0 < 60
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(chosen), lines
    for name in chosen:
        start, phrase = _expected(built[name], BY_NAME[name])
        [line] = [ln for ln in lines if ln.startswith(str(built[name].parent) + "/")]
        assert line.startswith(start) and phrase in line, line
