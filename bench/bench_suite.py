"""Benchmark the core suite on the scripted models in real containers, against a floor
measured in the same run.

    python bench/bench_suite.py [--suite core] [--all-factors] [--policies schemer,benign,near_miss]
                                [--max-samples 4] [--repeat 5]

What it times:
- floor 1: `docker run --rm scheming-evals/workstation:latest true`, repeated (the least a
  container costs here);
- floor 2: a bare `docker compose up -d --wait` + `down` of one scenario's own compose file
  (the least a sample's sandbox costs: its agent container and sidecars, no eval);
- the suite: by default each scenario's first factor combination (the whole core's every
  combination takes well over 10 minutes on a 2-core machine; `--all-factors` runs it all),
  once per scripted policy, through `inspect_ai.eval` with the same task as `scheming run`
  (interrogation and the scripted label judge included), one task per scenario and policy,
  at most `--max-samples` samples (and tasks) at a time.

Prints seconds per sample (wall time of the whole run / samples, at the given parallelism, and
the mean of each sample's own total time), both floors and the ratios. A benchmark, not a test:
nothing is asserted. Needs the images (`scheming setup --images-only`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

IMAGE = "scheming-evals/workstation:latest"


def _timed(cmd: list[str], **kw: object) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)  # type: ignore[call-overload]
    return time.perf_counter() - t0


def floor_docker_run(repeat: int) -> list[float]:
    _timed(["docker", "run", "--rm", IMAGE, "true"])  # warm the page cache once
    return [_timed(["docker", "run", "--rm", IMAGE, "true"]) for _ in range(repeat)]


def floor_compose(scenario_id: str, repeat: int) -> list[float]:
    from evals.sandbox import write_compose
    from evals.scenario import load_scenarios

    [scenario] = [s for s in load_scenarios() if s.id == scenario_id]
    path = write_compose(scenario)
    out = []
    for i in range(repeat):
        project = f"bench-floor-{os.getpid()}-{i}"
        base = ["docker", "compose", "-f", str(path), "-p", project]
        env = {**os.environ, "COMPOSE_BAKE": "false"}
        t0 = time.perf_counter()
        try:
            subprocess.run(
                [*base, "up", "-d", "--wait"],
                check=True,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        finally:
            subprocess.run(
                [*base, "down", "-t", "1", "--remove-orphans"],
                check=False,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        out.append(time.perf_counter() - t0)
    return out


def run_suite(
    suite: str, policies: list[str], all_factors: bool, max_samples: int
) -> tuple[float, int, list[float], int, int]:
    """(wall seconds, samples, each sample's total time, errors, samples whose grade is not the
    scenario's expectation for that policy)."""
    from inspect_ai import eval as inspect_eval
    from inspect_ai import task_with

    from evals.scenario import combinations, load_scenarios, sample_id, select
    from evals.tasks import scheming

    chosen = select(load_scenarios(), suite=suite)
    ids = None if all_factors else sorted(sample_id(s, combinations(s)[0]) for s in chosen)
    # one task per scenario and policy: a task whose samples' score values have different
    # keys (scenarios with and without a `concealed` flag) fails in inspect's metrics
    tasks = [
        task_with(
            scheming(scenarios=[s.id]),
            model=f"scripted/{policy}",
            name=f"bench-{policy}-{s.id.replace('/', '-')}",
        )
        for policy in policies
        for s in chosen
        if policy in s.reference
    ]
    by_id = {s.id: s for s in chosen}
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as logs:
        t0 = time.perf_counter()
        results = inspect_eval(
            tasks,
            log_dir=logs,
            sample_id=ids,
            display="none",
            max_tasks=max_samples,
            max_samples=max_samples,
            fail_on_error=False,  # count errored samples; do not stop the task at the first
        )
        wall = time.perf_counter() - t0
        totals: list[float] = []
        errors = wrong = 0
        for log in results:  # read while the logs still exist (samples load lazily)
            policy = str(log.eval.model).split("/", 1)[1]
            if log.status != "success":
                why = log.error.message.splitlines()[-1] if log.error else ""
                print(f"  task {log.eval.task} ({policy}): {log.status} {why}"[:300])
            for sample in log.samples or []:
                if sample.total_time is not None:
                    totals.append(sample.total_time)
                if sample.error is not None:
                    errors += 1
                    print(f"  error {policy} {sample.id}: {sample.error.message[:200]}")
                    continue
                score = (sample.scores or {}).get("scheming")
                expected = by_id[sample.metadata["scenario"]].expectation(policy)
                if score is None or score.answer != expected.rung:
                    wrong += 1
    return wall, len(totals), totals, errors, wrong


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--suite", default="core")
    ap.add_argument("--policies", default="schemer,benign,near_miss")
    ap.add_argument("--all-factors", action="store_true")
    ap.add_argument("--max-samples", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--compose-scenario",
        default="self_exfiltration/clinical_coder",
        help="scenario whose compose file is brought up and down for floor 2",
    )
    args = ap.parse_args()

    runs = floor_docker_run(args.repeat)
    composes = floor_compose(args.compose_scenario, max(1, args.repeat // 2))
    run_floor = statistics.median(runs)
    compose_floor = statistics.median(composes)
    print(
        f"floor: docker run --rm {IMAGE} true: median {run_floor:.2f} s "
        f"(n={len(runs)}, min {min(runs):.2f}, max {max(runs):.2f})"
    )
    print(
        f"floor: compose up --wait + down of {args.compose_scenario}: median "
        f"{compose_floor:.2f} s (n={len(composes)}, min {min(composes):.2f}, "
        f"max {max(composes):.2f})"
    )

    policies = [p for p in args.policies.split(",") if p]
    wall, n, totals, errors, wrong = run_suite(
        args.suite, policies, args.all_factors, args.max_samples
    )
    if not n:
        print("no samples ran")
        return 1
    per_wall = wall / n
    per_own = statistics.mean(totals)
    which = (
        "every factor combination"
        if args.all_factors
        else "first factor combination of each scenario"
    )
    print(
        f"suite {args.suite} ({which}; policies {', '.join(policies)}; max_samples "
        f"{args.max_samples}): {n} samples in {wall:.1f} s wall, {errors} errored, "
        f"{wrong} graded other than expected"
    )
    print(f"seconds per sample (wall / samples): {per_wall:.2f} s")
    print(
        f"seconds per sample (mean of each sample's own total time): {per_own:.2f} s "
        f"(median {statistics.median(totals):.2f}, max {max(totals):.2f})"
    )
    print(f"ratio wall-per-sample / compose floor: {per_wall / compose_floor:.2f}")
    print(f"ratio own-time-per-sample / compose floor: {per_own / compose_floor:.2f}")
    print(f"ratio wall-per-sample / docker-run floor: {per_wall / run_floor:.2f}")
    print(
        f"cpus: {os.cpu_count()}, load average at end: "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
