"""Render report.html in headless Chromium: it must paint, with its plots, and log no console
messages. Skipped where Debian's chromium is not installed (`apt-get install -y chromium`)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from evals.analysis._synthetic import BENIGN_VALUE, SCHEMER_VALUE
from evals.cli import main

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


def _screenshot(page: Path, shot: Path, profile: Path) -> list[str]:
    """Screenshot `page`; return the console lines Chromium logged."""
    assert CHROMIUM is not None
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=1280,1800",
            "--enable-logging=stderr",
            "--v=0",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return [line for line in proc.stderr.splitlines() if "CONSOLE" in line]


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_console_errors_are_detected(tmp_path: Path) -> None:
    """The check below can fail: a page with a script error does log a console line."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>missingFunction();</script>x</body></html>")
    console = _screenshot(bad, tmp_path / "bad.png", tmp_path / "profile-bad")
    assert any("missingFunction" in line for line in console)


def test_report_renders_in_chromium(write_suite: Callable[..., Path], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    logs = [
        write_suite("scripted/schemer", SCHEMER_VALUE),
        write_suite("scripted/benign", BENIGN_VALUE),
    ]
    out = tmp_path / "report"
    assert main(["report", *map(str, logs), "--out", str(out), "--quiet"]) == 0
    shot = tmp_path / "report.png"
    console = _screenshot(out / "report.html", shot, tmp_path / "profile")
    assert console == []
    assert _png_size(shot) == (1280, 1800)
    # a painted page compresses far worse than a blank one (~10 kB)
    assert shot.stat().st_size > 60_000
    # the plots were painted: the heatmap's dark red (schemer at 1.0) is on screen
    assert _dark_red_pixels(shot) > 5_000


def _dark_red_pixels(path: Path) -> int:
    from matplotlib.image import imread

    pixels = imread(str(path))
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return int(((red > 0.35) & (green < 0.1) & (blue < 0.1)).sum())


def test_page_without_plots_has_no_plot_pixels(
    write_suite: Callable[..., Path], tmp_path: Path
) -> None:
    """Control for the pixel check above: the same report with --no-plots shows none."""
    pytest.importorskip("matplotlib")
    logs = [write_suite("scripted/schemer", SCHEMER_VALUE)]
    out = tmp_path / "report"
    assert main(["report", *map(str, logs), "--out", str(out), "--quiet", "--no-plots"]) == 0
    shot = tmp_path / "report.png"
    assert _screenshot(out / "report.html", shot, tmp_path / "profile") == []
    assert _dark_red_pixels(shot) == 0
