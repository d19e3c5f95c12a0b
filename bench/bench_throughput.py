"""Throughput of the whole harness when the model is the bottleneck, as with a real API: a
scripted model that waits `--delay` seconds before every turn, through the real task (sandbox
per sample, lever trace, interrogation, scoring), at several `--max-sandboxes` levels. Every
figure is set against a floor measured in the same run, interleaved with the thing it bounds.

    python bench/bench_throughput.py [--scenario leaking/sonar_spec] [--policy benign]
                                     [--delay 5] [--levels 4,8,16,32] [--per-level 2]
                                     [--repeat 5]

What it measures:
- floor: a bare `docker compose up -d --wait` + `down` of the scenario's services (same images
  and commands, one internal network; no limits, no tmpfs mounts, no holders), interleaved with
  the scenario's own compose file (what a sample's sandbox really is) `--repeat` times;
- overhead: `--repeat` samples one at a time; a sample's sandbox life is read from docker's
  events (its network's create to destroy), and its overhead is that life minus the time the
  model waited (`--delay` x its turns): compose up, planting, setup, the tool calls' execs, the
  lever trace, scoring reads, compose down. Reported as a ratio to the floor (target <= 1.5);
- throughput: per level C, `--per-level` x C samples with max_samples = max_sandboxes = C
  and `scheming run`'s default max_subprocesses (2 x C, at least 8).
  Samples per minute, against the ideal C x 60 / (turns x delay + floor) (every sample costs
  only its model time and a bare compose up+down, all C in parallel; target >= 0.8 at C=16);
- host memory per concurrent sample, sampled every second while the level runs: the memory
  cgroups of the run's containers (cgroup v1 `memory.usage_in_bytes` or v2 `memory.current`),
  the proportional set size (PSS) of their containerd shims, and the growth of dockerd,
  containerd and this Python process over their size before the level, at the moment most
  sandboxes were up, over the number up (target <= 150 MB).

A benchmark, not a test: nothing is asserted. The machine is shared; the load average is
printed beside each figure. Needs the images (`scheming setup`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml  # noqa: E402
from inspect_ai import eval as inspect_eval  # noqa: E402
from inspect_ai import task_with  # noqa: E402
from inspect_ai.dataset import MemoryDataset, Sample  # noqa: E402

import evals._registry  # noqa: E402, F401  (registers `latency/<policy>`)
from evals.cli._run import default_subprocesses  # noqa: E402
from evals.sandbox import RUN_ID_ENV, RUN_LABEL, compose_config, write_compose  # noqa: E402
from evals.scenario import combinations, load_scenarios, sample_id  # noqa: E402
from evals.tasks import scheming  # noqa: E402

MB = 1024 * 1024


# ------------------------------------------------------------------------------- helpers


def _load() -> float:
    return os.getloadavg()[0]


def _timed(cmd: list[str]) -> float:
    env = {**os.environ, "COMPOSE_BAKE": "false"}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - t0


def _bare_compose(config: dict[str, Any]) -> dict[str, Any]:
    """The scenario's services with nothing but image, command and one internal network."""
    services = {}
    for name, svc in config["services"].items():
        if "_rw" in name:
            continue  # a pack image's writable-area holder: what the floor leaves out
        bare = {"image": svc["image"], "init": True, "networks": ["net"]}
        if "command" in svc:
            bare["command"] = svc["command"]
        services[name] = bare
    return {"services": services, "networks": {"net": {"internal": True}}}


def _up_down(path: Path, project: str) -> float:
    base = ["docker", "compose", "-f", str(path), "-p", project]
    try:
        return _timed([*base, "up", "-d", "--wait"]) + _timed([*base, "down", "-t", "1", "-v"])
    finally:
        subprocess.run([*base, "down", "-t", "0", "-v"], capture_output=True)


class Events:
    """`docker events` for networks of this process's projects: (create, destroy) per project."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["docker", "events", "--filter", "type=network", "--format", "{{json .}}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.life: dict[str, list[float]] = {}
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            ev = json.loads(line)
            name = ev.get("Actor", {}).get("Attributes", {}).get("name", "")
            if not name.startswith("inspect-bench-"):
                continue
            action, t = ev.get("Action"), ev["timeNano"] / 1e9
            if action == "create":
                self.life.setdefault(name, [t, 0.0])[0] = t
            elif action == "destroy":
                self.life.setdefault(name, [0.0, t])[1] = t

    def close(self) -> None:
        self.proc.terminate()


def _rss_kb(pid: int, field: str = "Pss") -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    m = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) if m else 0


def _pids(name: str) -> list[int]:
    out = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _cgroup_memory(cid: str) -> int:
    for path in (
        f"/sys/fs/cgroup/memory/docker/{cid}/memory.usage_in_bytes",
        f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/memory.current",
        f"/sys/fs/cgroup/docker/{cid}/memory.current",
    ):
        try:
            return int(Path(path).read_text())
        except OSError:
            continue
    return 0


def _shims() -> dict[str, int]:
    """container id -> pid of its containerd shim."""
    shims = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if args and b"containerd-shim" in args[0] and b"-id" in args:
            i = args.index(b"-id")
            if i + 1 < len(args):
                shims[args[i + 1].decode()] = int(proc.name)
    return shims


class Memory:
    """Samples host memory attributable to this run's sandboxes once a second."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.daemons = {n: _pids(n) for n in ("dockerd", "containerd")}
        self.base = {n: sum(_rss_kb(p) for p in ps) for n, ps in self.daemons.items()}
        self.base["python"] = _rss_kb(os.getpid())
        self.peak: dict[str, float] = {"samples": 0}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.wait(1.0):
            out = subprocess.run(
                ["docker", "ps", "--no-trunc", "--filter", f"label={RUN_LABEL}={self.run_id}",
                 "--format", '{{.ID}} {{.Label "com.docker.compose.project"}}'],
                capture_output=True, text=True,
            ).stdout.split("\n")  # fmt: skip
            rows = [line.split() for line in out if line.strip()]
            projects = {r[1] for r in rows if len(r) > 1}
            if not projects or len(projects) < self.peak["samples"]:
                continue
            shims = _shims()
            cgroups = sum(_cgroup_memory(r[0]) for r in rows) / MB
            shim = sum(_rss_kb(shims[r[0]]) for r in rows if r[0] in shims) / 1024
            daemons = (
                sum(
                    max(0, sum(_rss_kb(p) for p in ps) - self.base[n])
                    for n, ps in self.daemons.items()
                )
                / 1024
            )
            python = max(0, _rss_kb(os.getpid()) - self.base["python"]) / 1024
            self.peak = {
                "samples": len(projects),
                "containers": len(rows),
                "cgroups": cgroups,
                "shims": shim,
                "daemons": daemons,
                "python": python,
            }

    def close(self) -> dict[str, float]:
        self.stop.set()
        self.thread.join()
        return self.peak


def _template(scenario_id: str) -> tuple[Any, Sample]:
    """The task (built once: scenarios are loaded once) and the scenario's first sample."""
    base = scheming(scenarios=[scenario_id])
    [scenario] = [s for s in load_scenarios() if s.id == scenario_id]
    first = sample_id(scenario, combinations(scenario)[0])
    [sample] = [s for s in base.dataset if s.id == first]
    return base, sample


def _copies(sample: Sample, policy: str, n: int) -> list[Sample]:
    out = []
    for i in range(n):
        case = sample.model_copy(deep=True)
        case.id = f"{policy}/{i}"
        out.append(case)
    return out


def _run(args: argparse.Namespace, n: int, concurrency: int, tag: str) -> tuple[float, Any]:
    base, sample = args.template
    samples = _copies(sample, args.policy, n)
    task = task_with(base, dataset=MemoryDataset(samples, name=tag), name=f"bench-{tag}")
    t0 = time.perf_counter()
    [log] = inspect_eval(
        task,
        model=f"latency/{args.policy}",
        model_args={"delay": args.delay},
        model_roles={"grader": "scripted/labels"},
        log_dir=args.log_dir,
        display="none",
        max_samples=concurrency,
        max_sandboxes=concurrency,
        # as `scheming run` sets it when not given (2 per sandbox, at least 8): what users get
        max_subprocesses=default_subprocesses(concurrency),
        fail_on_error=False,
    )
    return time.perf_counter() - t0, log


def _turns(log: Any) -> list[int]:
    """Target-model turns per sample (the ones that waited)."""
    out = []
    for s in log.samples or []:
        out.append(
            sum(1 for e in s.events if e.event == "model" and str(e.model).startswith("latency/"))
        )
    return out


def _overhead(args: argparse.Namespace, scenario: Any) -> tuple[float, float]:
    """The floor, interleaved with the scenario's own compose file, then the per-sample
    overhead of samples run one at a time. Returns (floor, model wait per sample)."""
    full = write_compose(scenario)
    bare = Path(args.log_dir) / "bare.yaml"
    bare.write_text(yaml.safe_dump(_bare_compose(compose_config(scenario))))
    _up_down(bare, f"bench-warm-{os.getpid()}")
    floor, own = [], []
    for i in range(args.repeat):
        floor.append(_up_down(bare, f"bench-floor-{os.getpid()}-{i}"))
        own.append(_up_down(full, f"bench-own-{os.getpid()}-{i}"))
    f = statistics.median(floor)
    print(f"floor  bare compose up+down          median {f:6.2f} s  (load {_load():.1f})")
    print(f"       scenario compose up+down      median {statistics.median(own):6.2f} s  "
          f"ratio {statistics.median(own) / f:.2f}")  # fmt: skip
    events = Events()
    try:
        _, log = _run(args, args.repeat, 1, "serial")
        time.sleep(2)
        spans = sorted(v for v in events.life.values() if v[0] and v[1])
        lives = sorted(b - a for a, b in spans)
    finally:
        events.close()
    turns = _turns(log)
    wait = statistics.median(turns) * args.delay
    overhead = [life - wait for life in lives]
    ov = statistics.median(overhead) if overhead else float("nan")
    print(f"sample sandbox life                   median {statistics.median(lives):6.2f} s "
          f"({statistics.median(turns):g} model turns = {wait:.0f} s waiting)")  # fmt: skip
    print(f"overhead  life - model wait           median {ov:6.2f} s  ratio to floor "
          f"{ov / f:.2f} (target <= 1.5)  (load {_load():.1f})")  # fmt: skip
    print("          each sample: " + ", ".join(f"{o:.2f}" for o in overhead))
    _print_phases(log, spans)
    return f, wait


PHASES = ("up", "model", "tools", "reads", "harness", "down")
"""A sample's sandbox life, split (seconds): `up` from its network's creation to the end of
inspect's `init` span (the rest of compose up, the setup exec, waiting for sidecars to listen,
the root verdict); `model` the target's turns (the scripted wait); `tools` the tool calls
(their execs); `reads` sandbox calls outside a tool call (the interrogation's and graders'
execs and file reads); `harness` the rest of the sample after `init` (inspect and the harness
in Python: solvers, surveys read from the host, scoring); `down` from its last event to its
network's removal (compose down). The compose CLI's own start, before the network is created,
is outside the life (as it is inside the floor's timing)."""


def _phases(sample: Any, life: tuple[float, float]) -> dict[str, float]:
    def span(e: Any) -> tuple[float, float]:
        end = getattr(e, "completed", None) or e.timestamp
        return e.timestamp.timestamp(), end.timestamp()

    events = list(sample.events)
    init = {e.id for e in events if e.event == "span_begin" and e.name == "init"}
    ready = max(span(e)[1] for e in events if e.event == "span_end" and e.id in init)
    last = max(span(e)[1] for e in events)
    model = [span(e) for e in events if e.event == "model" and str(e.model).startswith("latency/")]
    tools = [span(e) for e in events if e.event == "tool"]
    inside = [span(e) for e in events if e.event == "sandbox"]
    reads = [r for r in inside if not any(a <= r[0] and r[1] <= b for a, b in tools)]
    out = {
        "up": ready - life[0],
        "model": sum(b - a for a, b in model),
        "tools": sum(b - a for a, b in tools),
        "reads": sum(b - a for a, b in reads),
        "down": life[1] - last,
    }
    out["harness"] = (last - ready) - out["model"] - out["tools"] - out["reads"]
    return out


def _print_phases(log: Any, spans: list[list[float]]) -> None:
    """Each one-at-a-time sample's life by phase, to see which part varies (samples and
    networks both in start order: one sample at a time)."""
    samples = sorted(log.samples or [], key=lambda s: min(e.timestamp for e in s.events))
    if len(samples) != len(spans):
        print(f"          ({len(samples)} samples, {len(spans)} networks: no phase split)")
        return
    rows = [_phases(s, (a, b)) for s, (a, b) in zip(samples, spans, strict=True)]
    print("          phase  " + " ".join(f"{p:>7}" for p in PHASES) + "   (seconds)")
    for i, row in enumerate(rows):
        print(f"          #{i:<5} " + " ".join(f"{row[p]:7.2f}" for p in PHASES))
    med = {p: statistics.median(r[p] for r in rows) for p in PHASES}
    print("          median " + " ".join(f"{med[p]:7.2f}" for p in PHASES))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default="leaking/sonar_spec")
    ap.add_argument("--policy", default="benign")
    ap.add_argument("--delay", type=float, default=5.0)
    ap.add_argument("--levels", default="4,8,16,32")
    ap.add_argument("--per-level", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--floor",
        type=float,
        help="skip the floor and one-at-a-time passes and use this floor (seconds) for ideal",
    )
    args = ap.parse_args()
    run_id = f"bench-{uuid.uuid4().hex[:8]}"
    os.environ[RUN_ID_ENV] = run_id
    args.log_dir = tempfile.mkdtemp(prefix="bench-throughput-")
    [scenario] = [s for s in load_scenarios() if s.id == args.scenario]
    args.template = _template(args.scenario)
    print(f"scenario {args.scenario}, policy {args.policy}, {args.delay:g} s per model turn, "
          f"{os.cpu_count()} CPUs; load average at start {_load():.1f}")  # fmt: skip
    if args.floor:
        f = args.floor
        steps = args.template[1].metadata["reference"][args.policy]
        wait = len(steps) * args.delay  # one model turn per scripted step
        print(f"floor {f:.2f} s given; {len(steps)} model turns = {wait:.0f} s waiting")
    else:
        f, wait = _overhead(args, scenario)

    # throughput per level
    ideal_sample = wait + f
    print(f"{'C':>3} {'samples':>7} {'wall s':>7} {'per min':>8} {'ideal':>7} {'ratio':>6} "
          f"{'MB/sample':>9} {'(cgroups':>8} {'shims':>6} {'daemons':>7} {'python)':>7} "
          f"{'load':>5}")  # fmt: skip
    for c in [int(x) for x in args.levels.split(",")]:
        n = args.per_level * c
        mem = Memory(run_id)
        wall, log = _run(args, n, c, f"c{c}")
        peak = mem.close()
        errors = sum(1 for s in log.samples or [] if s.error)
        rate = n * 60 / wall
        ideal = c * 60 / ideal_sample
        k = max(1.0, peak["samples"])
        per = (peak.get("cgroups", 0) + peak.get("shims", 0) + peak.get("daemons", 0)
               + peak.get("python", 0)) / k  # fmt: skip
        print(f"{c:>3} {n:>7} {wall:>7.0f} {rate:>8.1f} {ideal:>7.1f} {rate / ideal:>6.2f} "
              f"{per:>9.0f} {peak.get('cgroups', 0) / k:>8.0f} {peak.get('shims', 0) / k:>6.0f} "
              f"{peak.get('daemons', 0) / k:>7.0f} {peak.get('python', 0) / k:>7.0f} "
              f"{_load():>5.1f}" + (f"  ({errors} errored)" if errors else ""))  # fmt: skip
        print(
            f"    at peak {peak['samples']:.0f} samples up, {peak.get('containers', 0):.0f} "
            "containers"
        )


if __name__ == "__main__":
    main()
