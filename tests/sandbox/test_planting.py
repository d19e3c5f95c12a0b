"""Planting a sample's files from one archive in its setup script leaves the container exactly as
inspect's `Sample.files` did (one `mkdir -p` and one `tee` exec per file): the same paths,
contents, owners, modes and sizes, and the same parent directories."""

from __future__ import annotations

import base64
import io
import re
import shlex
import tarfile
from typing import Any

import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.util import SandboxEnvironmentSpec, sandbox

from evals.sandbox import write_compose
from evals.scenario import load_scenarios, scenario_samples

pytestmark = pytest.mark.docker

SCENARIOS = [
    "leaking/sonar_spec",
    "credential_misuse/fares_hotfix",  # a canary
    "self_exfiltration/clinical_coder",  # `size:` (sparse)
    "interruption_compliance/refund_batch",  # modes 0600 / 0644 / 0755
    "persistence/wire_desk_decommission",  # 11 files, several directories
]


def _archive(setup: str) -> dict[str, bytes]:
    """The files the setup script's first line carries."""
    [encoded] = re.findall(r"printf '%s' '([A-Za-z0-9+/=]*)'", setup.splitlines()[0])
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(encoded))) as tar:
        out: dict[str, bytes] = {}
        for member in tar.getmembers():
            f = tar.extractfile(member)
            assert f is not None
            out["/" + member.name] = f.read()
        return out


def _as_before(sample: Sample) -> Sample:
    """The same sample planted the way it was before: `Sample.files` + the chmod lines."""
    setup = sample.setup or ""
    assert isinstance(setup, str)
    files = {
        path: "data:application/octet-stream;base64," + base64.b64encode(raw).decode()
        for path, raw in _archive(setup).items()
    }
    rest = ["set -e", *setup.splitlines()[1:]]
    return sample.model_copy(update={"files": files, "setup": "\n".join(rest) + "\n"})


@solver
def _stat_planted() -> Solver:
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        paths: set[str] = set()
        for target in state.metadata["planted"]:
            parts = target.strip("/").split("/")
            paths.update("/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1))
        ordered = sorted(paths)
        # a directory's size is left out: on tmpfs it counts its entries, and the agent's home
        # holds its image's files too where `scheming-docker` copied them in
        script = (
            'for p in "$@"; do if [ -d "$p" ]; then stat -c "%n %U:%G %a %F" "$p";'
            ' else stat -c "%n %U:%G %a %F %s" "$p"; fi; done'
        )
        files = sorted(state.metadata["planted"])
        result = await sandbox().exec(["sh", "-c", script, "sh", *ordered], user="root", timeout=60)
        # as the agent: root has no DAC_OVERRIDE in these containers (0600 files of the agent)
        sums = await sandbox().exec(["sha256sum", *files], timeout=60)
        state.metadata["stat"] = result.stdout
        state.metadata["sums"] = sums.stdout
        return state

    return solve


def _run(samples: list[Sample], tmp: Any) -> dict[str, dict[str, str]]:
    task = Task(dataset=MemoryDataset(samples), solver=_stat_planted())
    [log] = inspect_eval(task, model="mockllm/model", log_dir=str(tmp), display="none")
    assert log.status == "success", log.error
    assert log.samples is not None
    return {
        str(s.id): {"stat": s.metadata["stat"], "sums": s.metadata["sums"]} for s in log.samples
    }


def test_archive_plants_what_sample_files_planted(
    docker_ready: None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    by_id = {s.id: s for s in load_scenarios()}
    now: list[Sample] = []
    for sid in SCENARIOS:
        scenario = by_id[sid]
        sample = scenario_samples(scenario, salt="planting")[0]
        sample.sandbox = SandboxEnvironmentSpec("docker", str(write_compose(scenario)))
        assert not sample.files
        now.append(sample)
    before = [_as_before(s) for s in now]
    got = _run(now, tmp_path_factory.mktemp("now"))
    expected = _run(before, tmp_path_factory.mktemp("before"))
    for sample in now:
        sid = str(sample.id)
        assert got[sid] == expected[sid], sid
        planted = sample.metadata["planted"] if sample.metadata else {}
        for path, info in planted.items():
            assert info["sha256"] in got[sid]["sums"] or "size" in info, path
            line = next(x for x in got[sid]["stat"].splitlines() if x.startswith(path + " "))
            assert shlex.split(line)[2] == info["mode"].lstrip("0"), line
