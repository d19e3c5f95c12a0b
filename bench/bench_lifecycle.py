"""Docker calls, CPU and wall per sample of a reference replay, against a bare compose up+down
measured in the same run.

    python bench/bench_lifecycle.py [--references REGEX] [--tree DIR ...] [--floor-repeat N]

For each `--tree` (a checkout of this repository; default: this one), in turn:
`tests/docker/test_references.py` on the `SCHEMING_REFERENCES` selection, with a `docker` shim
first on PATH that logs every call, counted per sample by kind (`compose up`, `compose ps`,
`exec`, `inspect`, ...). Then the floor: `docker compose up -d --wait` + `down --volumes` of two
bare containers (image, `sleep infinity`, `init`, one internal network), `--floor-repeat`
times. Per sample and per floor cycle:

- **calls**: docker CLI invocations by kind (from the shim's log);
- **own CPU-s**: user + system CPU of the test process and every process it waited for (python,
  the docker and compose CLIs): this run's client side, whatever else runs on the machine;
- **busy CPU-s**: the whole machine's non-idle CPU over the run (/proc/stat), which includes
  dockerd/containerd/runc's share but also anyone else's load: read it with the load average;
- **daemon CPU-s**: dockerd + containerd + their shims (/proc/<pid>/stat), also shared;
- **wall**.

A benchmark, not a test: it prints figures and asserts nothing (a failed reference is
reported, and its counts still printed).
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = "oversight_subversion/grant_triage|hidden_delegation/ledger_recon|leaking/sonar_spec"
IMAGE = "scheming-evals/workstation:latest"
SHIM = """#!/bin/sh
# one line per call: its first 16 arguments, each cut at its first newline (scripts)
nl='
'
line=""
n=0
for a in "$@"; do
  n=$((n + 1))
  [ "$n" -gt 16 ] && break
  line="$line ${{a%%"$nl"*}}"
done
printf '%s\\n' "$line" >> "{log}"
exec "{docker}" "$@"
"""


def _kind(argv: str) -> str:
    """`compose up`, `compose exec default`, `exec`, `inspect`, ... for one logged call."""
    words = argv.split()
    if not words:
        return "?"
    if words[0] != "compose":
        return words[0]
    rest: list[str] = []
    skip = False
    for w in words[1:]:
        if skip:
            skip = False
            continue
        if w in ("--project-name", "-f", "-p", "--ansi", "--progress", "--project-directory"):
            skip = True
            continue
        rest.append(w)
    if not rest:
        return "compose"
    sub = rest[0]
    if sub == "ps":
        status = next((rest[i + 1] for i, w in enumerate(rest[:-1]) if w == "--status"), "")
        return f"compose ps {status}".strip()
    if sub == "config" and "--images" in rest:
        return "compose config --images"
    return f"compose {sub}"


def _busy() -> tuple[float, float]:
    """(busy, total) CPU-seconds of the whole machine since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / hz, sum(fields) / hz


def _daemon_cpu() -> float:
    """CPU-seconds of dockerd, containerd and the containerd shims (with reaped children)."""
    hz = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        if name in ("dockerd", "containerd") or name.startswith("containerd-shim"):
            f = text[text.rindex(")") + 2 :].split()
            total += sum(int(x) for x in f[11:15]) / hz  # utime stime cutime cstime
    return total


def _own() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


class Meter:
    def __enter__(self) -> Meter:
        self.busy0, _ = _busy()
        self.own0 = _own()
        self.daemon0 = _daemon_cpu()
        self.wall0 = time.monotonic()
        self.load0 = os.getloadavg()[0]
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.monotonic() - self.wall0
        self.busy = _busy()[0] - self.busy0
        self.own = _own() - self.own0
        self.daemon = _daemon_cpu() - self.daemon0
        self.load1 = os.getloadavg()[0]


def _shim(directory: Path, log: Path) -> dict[str, str]:
    docker = shutil.which("docker")
    assert docker, "docker not on PATH"
    (directory / "docker").write_text(SHIM.format(log=log, docker=docker))
    (directory / "docker").chmod(0o755)
    return {**os.environ, "PATH": f"{directory}:{os.environ['PATH']}"}


def _counts(log: Path) -> collections.Counter[str]:
    lines = log.read_text().splitlines() if log.exists() else []
    return collections.Counter(_kind(line) for line in lines)


def _report(title: str, n: int, counts: collections.Counter[str], m: Meter) -> None:
    print(f"\n== {title}: {n} unit(s), load average {m.load0:.1f} -> {m.load1:.1f}")
    total = sum(counts.values())
    print(f"docker calls per unit: {total / n:.1f}")
    for kind, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {kind:28s} {count / n:6.2f}")
    compose = sum(c for k, c in counts.items() if k.startswith("compose"))
    print(f"  (compose calls {compose / n:.2f}, others {(total - compose) / n:.2f})")
    print(
        f"per unit: wall {m.wall / n:.2f} s, own CPU {m.own / n:.2f} s, busy CPU {m.busy / n:.2f}"
        f" s, daemon CPU {m.daemon / n:.2f} s"
    )


def references(tree: Path, regex: str, work: Path) -> tuple[int, Meter, collections.Counter[str]]:
    log = work / f"calls-{uuid.uuid4().hex[:8]}.log"
    env = _shim(work, log)
    env["SCHEMING_REFERENCES"] = regex
    env["PYTHONPATH"] = str(tree)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/docker/test_references.py",
    ]
    with Meter() as m:
        result = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
    print(f"\n[{tree}] pytest rc={result.returncode}: " + " | ".join(tail))
    counts = _counts(log)
    samples = counts.get("compose up", 0) or 1
    return samples, m, counts


def floor(repeat: int, work: Path) -> tuple[int, Meter, collections.Counter[str]]:
    log = work / f"floor-{uuid.uuid4().hex[:8]}.log"
    env = _shim(work, log)
    spec = {"image": IMAGE, "command": ["sleep", "infinity"], "init": True, "networks": ["n"]}
    config = {
        "services": {"a": dict(spec), "b": dict(spec)},
        "networks": {"n": {"internal": True, "labels": {"scheming-evals": "1"}}},
    }
    for s in config["services"].values():
        s["labels"] = {"scheming-evals": "1"}
    path = work / "floor-compose.yaml"
    path.write_text(yaml.safe_dump(config))
    with Meter() as m:
        for i in range(repeat):
            base = ["docker", "compose", "-f", str(path), "-p", f"bench-floor-{os.getpid()}-{i}"]
            subprocess.run([*base, "up", "-d", "--wait"], env=env, capture_output=True, check=True)
            subprocess.run([*base, "down", "--volumes"], env=env, capture_output=True, check=True)
    return repeat, m, _counts(log)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--references", default=DEFAULT)
    parser.add_argument("--tree", action="append", type=Path, default=None)
    parser.add_argument("--floor-repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-lifecycle-") as tmp:
        work = Path(tmp)
        n, fm, fc = floor(args.floor_repeat, work)
        _report("floor: bare compose up --wait + down of 2 containers", n, fc, fm)
        for tree in args.tree or [ROOT]:
            samples, m, counts = references(tree.resolve(), args.references, work)
            _report(f"references in {tree}", samples, counts, m)
            for name, value, base in (
                ("wall", m.wall, fm.wall),
                ("own CPU", m.own, fm.own),
                ("busy CPU", m.busy, fm.busy),
            ):
                print(f"  {name} per sample / floor cycle: {value / samples / (base / n):.2f}x")
        n, fm2, fc2 = floor(args.floor_repeat, work)
        _report("floor again (after the runs)", n, fc2, fm2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
