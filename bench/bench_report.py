"""Benchmark `scheming report` on 100,000 synthetic samples.

    python bench/bench_report.py [--files 100] [--per-file 1000] [--keep DIR] [--screenshot]

Builds synthetic `.eval` logs with inspect's own writer (5 models, 20 scenarios each; building
them takes a minute or two, so `--keep DIR` reuses logs from an earlier run), then times:

- floor: reading every log's sample summaries with inspect's public reader
  (`read_eval_log_sample_summaries`), the least any report must do, in this process;
- report: `scheming report LOGS --out DIR` in this process (reading, aggregating, intervals,
  all five files and both plots);
- report (cold): the same as a fresh `python -m evals report` process, imports included.

and prints each wall time and CPU time (this process and its children) with the report / floor
ratios; where other work loads the machine, the CPU figures are the steadier ones. Target: report
under 10 s. With `--screenshot`, the HTML report is also rendered in headless Chromium (when
installed) and the screenshot path and any console errors are printed.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS = (
    "scripted/schemer",
    "scripted/benign",
    "scripted/near_miss",
    "openai/gpt-x",
    "anthropic/claude-x",
)
PROPENSITY = {
    "scripted/schemer": 0.9,
    "scripted/benign": 0.02,
    "scripted/near_miss": 0.3,
    "openai/gpt-x": 0.1,
    "anthropic/claude-x": 0.05,
}


def _write_one(args: tuple[str, int, int, int]) -> str:
    from evals.analysis._synthetic import make_log, synthetic_samples, write_log

    directory, index, per_file, files = args
    model = MODELS[index % len(MODELS)]
    rng = random.Random(index)
    # files of the same model continue its epochs, so their sample ids never collide
    first_epoch = 1 + (index // len(MODELS)) * (per_file // 80 + 1)
    samples = synthetic_samples(rng, per_file, PROPENSITY[model], first_epoch=first_epoch)
    path = write_log(make_log(model, samples), directory, name=f"log-{index:04d}")
    return str(path)


def build_logs(directory: Path, files: int, per_file: int) -> list[Path]:
    existing = sorted(directory.glob("log-*.eval"))
    if len(existing) == files:
        return existing
    for p in existing:
        p.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    jobs = [(str(directory), i, per_file, files) for i in range(files)]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return sorted(Path(p) for p in pool.map(_write_one, jobs))


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (forked workers, subprocesses):
    unlike wall time, hardly changed by other work on the machine."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def floor_read(paths: list[Path]) -> tuple[float, float, int]:
    from inspect_ai.log import read_eval_log_sample_summaries

    start, cpu = time.perf_counter(), cpu_seconds()
    count = 0
    for path in paths:
        count += len(read_eval_log_sample_summaries(str(path)))
    return time.perf_counter() - start, cpu_seconds() - cpu, count


def screenshot(report_html: Path, work: Path) -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        print("screenshot: chromium not installed, skipped")
        return
    shot = work / "report.png"
    proc = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={work / 'chromium-profile'}",
            f"--screenshot={shot}",
            "--window-size=1400,2000",
            "--enable-logging=stderr",
            "--v=0",
            report_html.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    size = shot.stat().st_size if shot.exists() else 0
    print(f"screenshot: {shot} ({size} bytes); console messages: {len(console)}")
    for line in console:
        print(f"  {line}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--per-file", type=int, default=1000)
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="directory for the logs, reused when it already holds them",
    )
    parser.add_argument("--screenshot", action="store_true")
    args = parser.parse_args()

    temp = Path(tempfile.mkdtemp(prefix="bench-report-"))
    logs_dir = args.keep or temp / "logs"
    try:
        start = time.perf_counter()
        paths = build_logs(logs_dir, args.files, args.per_file)
        print(
            f"logs: {len(paths)} files x {args.per_file} samples in {logs_dir} "
            f"(built/reused in {time.perf_counter() - start:.1f}s); {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.1f} (other work slows every figure alike)"
        )

        floor, floor_cpu, count = floor_read(paths)
        print(
            f"floor (inspect read_eval_log_sample_summaries, {count} samples): "
            f"{floor:.2f}s wall, {floor_cpu:.2f}s CPU"
        )

        from evals.cli import main as cli

        out = temp / "report"
        start, cpu = time.perf_counter(), cpu_seconds()
        code = cli(["report", str(logs_dir), "--out", str(out), "--quiet"])
        warm, warm_cpu = time.perf_counter() - start, cpu_seconds() - cpu
        if code != 0:
            print(f"report failed with exit code {code}")
            return 1
        print(
            f"report (in process):    {warm:.2f}s wall (ratio to floor {warm / floor:.2f}), "
            f"{warm_cpu:.2f}s CPU (ratio {warm_cpu / floor_cpu:.2f})"
        )

        start, cpu = time.perf_counter(), cpu_seconds()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "evals",
                "report",
                str(logs_dir),
                "--out",
                str(temp / "report-cold"),
                "--quiet",
            ],
            check=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        cold, cold_cpu = time.perf_counter() - start, cpu_seconds() - cpu
        print(
            f"report (fresh process): {cold:.2f}s wall (ratio to floor {cold / floor:.2f}), "
            f"{cold_cpu:.2f}s CPU (ratio {cold_cpu / floor_cpu:.2f})"
        )
        print(f"target < 10 s: {'met' if max(warm, cold) < 10 else 'NOT met'}")
        if args.screenshot:
            screenshot(out / "report.html", temp)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
