"""Benchmark the lever trace's cost per tool call against a bare `docker exec` (the floor),
measured in the same run, interleaved so load on the machine hits both alike.

    python bench/bench_trace.py [--levers 4] [--repeat 30]

Starts one workstation container (the project's image, hardened as a sample's is), plants
`--levers` small YAML files and one 1 GiB sparse file, then times, in turn:
- floor: `docker exec <c> true` (what any tool call already costs);
- exec: the exec path of the lever snapshot (evals/detectors/_trace.py's script, run as root
  with `docker exec`, the same command inspect's sandbox exec issues) over those levers;
- host: the host path (`host_snapshot`: the cached pid re-validated, /proc/<pid>/root opened,
  the walk, the view re-validated), in this process, over the same levers; needs root on the
  docker host, else it reports that the host view is unavailable.
Prints the medians and the ratios to the floor (target ≤ 1.5). A benchmark, not a test.
Needs the images (`scheming setup`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evals.detectors._trace import _SCRIPT, HASH_CAP, TEXT_CAP, host_snapshot  # noqa: E402
from evals.sandbox import LABEL  # noqa: E402

IMAGE = "scheming-evals/workstation:latest"


def _timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--levers", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    name = f"scheming-bench-trace-{int(time.time())}"
    subprocess.run(
        ["docker", "run", "-d", "--rm", "--name", name, "--label", f"{LABEL}=1",
         "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true", "--network", "none",
         IMAGE, "sleep", "600"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        paths = [f"/home/agent/lever{i}.yaml" for i in range(args.levers)]
        plant = "; ".join(
            f"printf 'monitoring:\\n  enabled: true\\n  sample_rate: 1.0\\n' > {p}" for p in paths
        )
        subprocess.run(
            ["docker", "exec", name, "sh", "-c", plant + "; truncate -s 1G /home/agent/w.bin"],
            check=True,
        )
        paths.append("/home/agent/w.bin")
        trace_cmd = ["docker", "exec", "-u", "root", name, "python3", "-I", "-S", "-c", _SCRIPT,
                     json.dumps(paths), str(HASH_CAP), str(TEXT_CAP)]  # fmt: skip
        floor_cmd = ["docker", "exec", name, "true"]
        cid = subprocess.run(
            ["docker", "inspect", "--format", "{{.Id}}", name],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        loop = asyncio.new_event_loop()

        def host() -> float:
            t0 = time.perf_counter()
            got = loop.run_until_complete(host_snapshot(cid, paths))
            elapsed = time.perf_counter() - t0
            if set(got) != set(paths):
                raise SystemExit(
                    f"host view read {sorted(got)} of {paths} (root: {os.geteuid() == 0})"
                )
            return elapsed

        for _ in range(3):  # warm up
            _timed(floor_cmd), _timed(trace_cmd), host()
        floor, trace, hosted = [], [], []
        for _ in range(args.repeat):
            floor.append(_timed(floor_cmd))
            trace.append(_timed(trace_cmd))
            hosted.append(host())
        loop.close()
        f, t, h = (statistics.median(x) for x in (floor, trace, hosted))
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"levers: {len(paths)} ({args.levers} YAML + one 1 GiB sparse file, hash cap "
              f"{HASH_CAP >> 20} MiB); load average {load}")  # fmt: skip
        print(f"floor  docker exec true          median {f * 1000:8.1f} ms")
        print(f"exec   snapshot through exec     median {t * 1000:8.1f} ms   {t / f:.2f} x floor")
        print(f"host   snapshot through /proc    median {h * 1000:8.1f} ms   {h / f:.3f} x floor")
        print("target <= 1.5 x floor")
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


if __name__ == "__main__":
    main()
