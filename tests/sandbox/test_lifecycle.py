"""`scheming-docker`'s sample lifecycle in fewer docker calls (its own `sample_init`, one-exec
setup, `connection()`, `sample_cleanup`) keeps inspect's outcomes: a service that exits at start
and a failing setup script error the sample with what went wrong, `connection()` names the
service's running container (and refuses a killed one), the setup script plants what inspect's
`Sample.setup` plants, and a sample leaves no container, network or volume behind."""

from __future__ import annotations

import os
import shlex
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.log import EvalLog
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.util import SandboxEnvironmentSpec, sandbox

from evals.sandbox import (
    HOLDER_LABEL,
    LABEL,
    SANDBOX,
    SETUP_KEY,
    SchemingDockerSandbox,
    container_pid,
    use_k8s,
    write_compose,
)
from evals.sandbox._host import reported_pid
from evals.sandbox._labels import RENDERED_KEY
from evals.scenario import load_scenarios, scenario_samples
from evals.tasks import with_plans
from tests.sandbox.test_planting import _stat_planted

IMAGE = "scheming-evals/workstation:latest"
TOKEN = "scheming-evals.test-lifecycle"


def _compose(tmp: Path, token: str, extra: dict[str, Any], *, volume: bool = True) -> str:
    """A compose file: `default` (the agent's user, working directory /tmp; a volume mounted
    unless `volume` is False) and `extra` services, every container, network and volume
    labelled with `token`."""
    labels = {LABEL: "1", TOKEN: token}
    services: dict[str, Any] = {
        "default": {"image": IMAGE, "user": "agent", "working_dir": "/tmp"},
        **extra,
    }
    for spec in services.values():
        spec.setdefault("image", IMAGE)
        spec.setdefault("command", ["sleep", "infinity"])
        own = spec.get("labels", {})
        spec.update({"x-local": True, "init": True, "stop_grace_period": "1s"})
        spec["labels"] = {**labels, **own}
        spec["networks"] = ["net"]
    config = {
        # as `compose_config` renders them: read as it is, not through `compose config`
        "x-inspect_docker_sandbox": {"unsafe_allow_writable_host_mounts": True},
        RENDERED_KEY: True,
        "services": services,
        "networks": {"net": {"internal": True, "labels": labels}},
    }
    if volume:
        config["volumes"] = {"scratch": {"labels": labels}}
        services["default"]["volumes"] = ["scratch:/srv/scratch"]
    path = tmp / f"compose-{token}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(path)


def _left(label: str) -> dict[str, list[str]]:
    """The containers, networks and volumes carrying `label` (k=v)."""
    out = {}
    for kind, cmd in {
        "containers": ["docker", "ps", "-aq", "--filter", f"label={label}"],
        "networks": ["docker", "network", "ls", "-q", "--filter", f"label={label}"],
        "volumes": ["docker", "volume", "ls", "-q", "--filter", f"label={label}"],
    }.items():
        result = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120)
        out[kind] = result.stdout.split()
    return out


def _eval(samples: list[Sample], solver_: Solver, tmp: Path) -> EvalLog:
    task = Task(dataset=MemoryDataset(samples), solver=solver_)
    [log] = inspect_eval(
        task, model="mockllm/model", log_dir=str(tmp), display="none", fail_on_error=False
    )
    assert log.samples is not None
    return log


def _docker_inspect(container: str, fmt: str) -> str:
    result = subprocess.run(
        ["docker", "inspect", "--format", fmt, container],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.stdout.strip() if result.returncode == 0 else f"error: {result.stderr.strip()}"


@solver
def _observe() -> Solver:
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        box = sandbox()
        ours = box.as_type(SchemingDockerSandbox)
        seen: dict[str, Any] = {"project": ours._project.name}
        seen["pwd"] = (await box.exec(["pwd"])).stdout
        script = "stat -c '%U %a %s' /tmp/planted; cat /tmp/planted; wc -c < /tmp/stdin"
        seen["planted"] = (await box.exec(["sh", "-c", script])).stdout
        # root access: recorded from the container's capabilities where they settle it (the
        # sidecar drops them all), probed by inspect where they do not (the default keeps
        # docker's); the recorded verdict is the one inspect's own probe reaches
        from inspect_ai.tool._sandbox_tools_utils.sandbox import _probe_root_access

        side = sandbox("sidecar").as_type(SchemingDockerSandbox)
        recorded = side._root_access
        probed = await _probe_root_access(sandbox("sidecar"))
        seen["root"] = {
            "sidecar": [recorded.state if recorded else None, probed.state],
            "sidecar_reason": recorded.reason if recorded else "",
            "default": [ours._root_access.state if ours._root_access else None],
        }
        connection = await box.connection()
        seen["default"] = [connection.type, connection.container, connection.command]
        seen["default_running"] = _docker_inspect(
            str(connection.container),
            '{{.State.Running}} {{index .Config.Labels "com.docker.compose.service"}}',
        )
        sidecar = await sandbox("sidecar").connection()
        seen["sidecar"] = sidecar.container
        # the agent may kill a sidecar: connection() then refuses it, it does not crash
        subprocess.run(["docker", "kill", str(sidecar.container)], capture_output=True, timeout=120)
        try:
            await sandbox("sidecar").connection()
            seen["killed"] = "connected"
        except ConnectionError:
            seen["killed"] = "ConnectionError"
        try:
            sandbox("oneshot")
            seen["oneshot"] = "a sandbox"
        except ValueError:
            seen["oneshot"] = "no sandbox"
        try:
            sandbox("keeper")
            seen["keeper"] = "a sandbox"
        except ValueError:
            seen["keeper"] = "no sandbox"
        # the host pid sample_init's inspect reported: the host view asks docker nothing more
        seen["pid"] = [
            reported_pid(ours._container),
            await container_pid(ours._container),
            _docker_inspect(ours._container, "{{.State.Pid}}"),
        ]
        state.metadata["seen"] = seen
        return state

    return solve


@pytest.mark.docker
def test_lifecycle_of_a_sample(docker_ready: None, tmp_path: Path) -> None:
    token = uuid.uuid4().hex[:12]
    config = _compose(
        tmp_path,
        token,
        {
            "sidecar": {"cap_drop": ["ALL"], "cap_add": ["CHOWN"]},
            "oneshot": {"command": ["true"]},  # exited 0: as inspect, fine and no sandbox
            # a writable-area holder: checked running, but no sandbox (nothing runs in it)
            "keeper": {"labels": {HOLDER_LABEL: "default"}},
        },
    )
    # a command of the script that reads stdin gets end-of-file, not the rest of the script
    setup = (
        "set -e\nprintf 'planted\\n' > /tmp/planted\ncat > /tmp/stdin\nchmod 0640 /tmp/planted\n"
    )
    sample = Sample(
        id="ok",
        input="x",
        metadata={SETUP_KEY: setup},
        sandbox=SandboxEnvironmentSpec(SANDBOX, config),
    )
    log = _eval([sample], _observe(), tmp_path / "logs")
    [result] = log.samples or []
    assert result.error is None, result.error.message
    seen = result.metadata["seen"]
    assert seen["pwd"] == "/tmp\n"
    assert seen["planted"] == "agent 640 8\nplanted\n0\n"
    kind, container, command = seen["default"]
    assert kind == "docker" and container.startswith(seen["project"] + "-default-")
    assert command == f"docker exec -it {container} bash -l"
    assert seen["default_running"] == "true default"
    assert seen["sidecar"].startswith(seen["project"] + "-sidecar-")
    assert seen["killed"] == "ConnectionError"
    assert seen["oneshot"] == "no sandbox"
    assert seen["root"]["sidecar"] == ["unusable", "unusable"]
    assert "CAP_SETGID,CAP_SETUID" in seen["root"]["sidecar_reason"]
    assert seen["root"]["default"] == ["usable"]  # inspect's probe ran: docker's default caps
    assert seen["keeper"] == "no sandbox"
    reported, viewed, inspected = seen["pid"]
    assert reported == int(inspected) > 0
    assert viewed == (reported if os.geteuid() == 0 else None)
    project = f"com.docker.compose.project={seen['project']}"
    assert _left(project) == {"containers": [], "networks": [], "volumes": []}
    assert _left(f"{TOKEN}={token}") == {"containers": [], "networks": [], "volumes": []}


@solver
def _nothing() -> Solver:
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        return state

    return solve


@pytest.mark.docker
def test_a_failed_start_or_setup_errors_the_sample(docker_ready: None, tmp_path: Path) -> None:
    token = uuid.uuid4().hex[:12]
    crash = {"command": ["sh", "-c", "echo boom-at-start >&2; exit 3"]}
    late_crash = {
        "command": ["sh", "-c", "sleep 3; echo boom-later >&2; exit 5"],
        "expose": ["8080"],
    }
    samples = [
        Sample(
            id="exits",
            input="x",
            sandbox=SandboxEnvironmentSpec(SANDBOX, _compose(tmp_path, token, {"crash": crash})),
        ),
        Sample(
            id="setup",
            input="x",
            metadata={SETUP_KEY: "set -e\necho setup-says-no >&2\nexit 4\necho never\n"},
            sandbox=SandboxEnvironmentSpec(SANDBOX, _compose(tmp_path, token + "s", {})),
        ),
        # running when first looked at (compose up without --wait), dead before it listened
        Sample(
            id="later",
            input="x",
            sandbox=SandboxEnvironmentSpec(
                SANDBOX, _compose(tmp_path, token + "l", {"crash": late_crash})
            ),
        ),
    ]
    log = _eval(samples, _nothing(), tmp_path / "logs")
    errors = {str(s.id): s.error.message if s.error else None for s in log.samples or []}
    later = errors["later"] or ""
    assert "Service 'crash' is exited with code 5" in later, later
    assert "boom-later" in later, later
    exits = errors["exits"] or ""
    assert "No services started" in exits, exits
    assert "Service 'crash' is exited with code 3" in exits, exits
    assert "boom-at-start" in exits, exits
    assert "'default'" not in exits, exits  # the service that ran is not blamed
    setup = errors["setup"] or ""
    assert "Failed to execute setup script for sample" in setup, setup
    assert "setup-says-no" in setup and "never" not in setup, setup
    for label in (f"{TOKEN}={token}", f"{TOKEN}={token}s"):
        assert _left(label) == {"containers": [], "networks": [], "volumes": []}, label


PLANTING = ["leaking/sonar_spec", "persistence/wire_desk_decommission"]


@pytest.mark.docker
def test_setup_in_one_exec_plants_what_inspects_setup_planted(
    docker_ready: None, tmp_path: Path
) -> None:
    """The scenario's sample made ready as `scheming` makes it (setup in the metadata, run by
    this sandbox in one exec) against inspect's `Sample.setup` in its stock sandbox."""
    by_id = {s.id: s for s in load_scenarios()}
    ours: list[Sample] = []
    stock: list[Sample] = []
    for sid in PLANTING:
        scenario = by_id[sid]
        sample = scenario_samples(scenario, salt="lifecycle")[0]
        inspects = sample.model_copy(deep=True)
        inspects.sandbox = SandboxEnvironmentSpec("docker", str(write_compose(scenario)))
        stock.append(inspects)
        ours.append(with_plans(sample, scenario, followups=0))
        assert ours[-1].setup is None and ours[-1].metadata
        assert ours[-1].metadata[SETUP_KEY] == inspects.setup
    got = _eval(ours, _stat_planted(), tmp_path / "ours")
    expected = _eval(stock, _stat_planted(), tmp_path / "stock")
    want = {
        str(s.id): (s.error, s.metadata.get("stat"), s.metadata.get("sums"))
        for s in expected.samples or []
    }
    for s in got.samples or []:
        assert s.error is None, s.error.message
        assert want[str(s.id)][0] is None
        assert (s.metadata["stat"], s.metadata["sums"]) == want[str(s.id)][1:], s.id
        assert s.metadata["sums"].count("\n") == len(s.metadata["planted"])
        # as the container's default user, who owns what it planted in its home
        home = next(x for x in s.metadata["stat"].splitlines() if x.startswith("/home/agent/"))
        assert shlex.split(home)[1].startswith("agent:"), home


def test_no_rendered_image_is_one_inspects_cleanup_would_remove() -> None:
    """inspect's skipped `compose_cleanup_images` removes only images named after the compose
    project (`inspect-…`); every service of every scenario names a locally built image."""
    for scenario in load_scenarios():
        config = yaml.safe_load(Path(write_compose(scenario)).read_text())
        for name, spec in config["services"].items():
            assert spec["image"].startswith("scheming-evals/"), (scenario.id, name)
            assert "build" not in spec, (scenario.id, name)


def test_k8s_runs_the_setup_inspects_way() -> None:
    """`with_plans` hands the setup script to this sandbox; `use_k8s` gives it back to
    `Sample.setup`, where the k8s sandbox (inspect's setup) runs it."""
    [scenario] = [s for s in load_scenarios() if s.id == PLANTING[0]]
    sample = scenario_samples(scenario, salt="k8s")[0]
    script = sample.setup
    assert script and "base64 -d" in script
    with_plans(sample, scenario, followups=0)
    assert sample.setup is None and sample.metadata and sample.metadata[SETUP_KEY] == script
    use_k8s([sample], [scenario], registry="registry.example/evals")
    assert sample.setup == script and SETUP_KEY not in sample.metadata


@pytest.mark.parametrize(
    ("host_config", "unusable"),
    [
        ({"CapDrop": ["ALL"], "CapAdd": None, "Privileged": False}, True),
        ({"CapDrop": ["ALL"], "CapAdd": ["CHOWN", "DAC_OVERRIDE"], "Privileged": False}, True),
        ({"CapDrop": ["CAP_SETUID"], "CapAdd": [], "Privileged": False}, True),
        ({"CapDrop": ["ALL"], "CapAdd": ["SETUID", "SETGID"], "Privileged": False}, False),
        ({"CapDrop": ["ALL"], "CapAdd": ["ALL"], "Privileged": False}, False),
        ({"CapDrop": None, "CapAdd": None, "Privileged": False}, False),
        ({"CapDrop": ["NET_RAW"], "CapAdd": None, "Privileged": False}, False),
        ({"CapDrop": ["ALL"], "CapAdd": None, "Privileged": True}, False),
        ({"CapDrop": ["ALL"], "CapAdd": None}, False),  # not read: inspect probes
        ({"CapDrop": "ALL", "CapAdd": None, "Privileged": False}, False),
    ],
)
def test_root_access_is_recorded_only_where_the_capabilities_settle_it(
    host_config: dict[str, Any], unusable: bool
) -> None:
    from evals.sandbox._docker_exec import _no_user_switch

    assert bool(_no_user_switch(host_config)) is unusable


def test_listening_ports_are_read_from_the_kernels_tables() -> None:
    from evals.sandbox._docker_exec import listening_ports

    tables = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
        "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000   997\n"
        "   1: 0100007F:0050 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000   997\n"
        "  sl  local_address                         remote_address                        st\n"
        "   0: 00000000000000000000000000000000:0019 00000000000000000000000000000000:0000 0A\n"
        "   1: garbage\n"
    )
    assert listening_ports(tables) == {8080, 25}  # 80 is an established connection, not LISTEN


@solver
def _first_connect() -> Solver:
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        probe = (
            "import socket; s = socket.create_connection(('late', 8080), timeout=5); print('ok')"
        )
        state.metadata["first"] = (await sandbox().exec(["python3", "-c", probe])).stdout
        return state

    return solve


@pytest.mark.docker
def test_a_sidecar_is_listening_before_the_agent_acts(
    docker_ready: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sidecar whose server opens its port 2 s after its container starts is listening on
    every port it exposes when the agent's first command runs; one that never listens errors
    the sample, naming it and the port."""
    from evals.sandbox import _docker_exec

    monkeypatch.setattr(_docker_exec, "READY_TIMEOUT", 4)
    token = uuid.uuid4().hex[:12]
    server = ["sh", "-c", "sleep 2; exec python3 -m http.server 8080 --bind 0.0.0.0"]
    late = _compose(tmp_path, token, {"late": {"command": server, "expose": ["8080"]}})
    never = _compose(
        tmp_path, token + "n", {"late": {"command": ["sleep", "infinity"], "expose": ["8080"]}}
    )
    samples = [
        Sample(id="late", input="x", sandbox=SandboxEnvironmentSpec(SANDBOX, late)),
        Sample(id="never", input="x", sandbox=SandboxEnvironmentSpec(SANDBOX, never)),
    ]
    log = _eval(samples, _first_connect(), tmp_path / "logs")
    by_id = {str(s.id): s for s in log.samples or []}
    assert by_id["late"].error is None, by_id["late"].error
    assert by_id["late"].metadata["first"] == "ok\n"
    error = by_id["never"].error.message if by_id["never"].error else ""
    assert "Service 'late' is not listening on port(s) 8080 4 s after it started" in error, error
    for label in (f"{TOKEN}={token}", f"{TOKEN}={token}n"):
        assert _left(label) == {"containers": [], "networks": [], "volumes": []}, label


_MADE_TO_FAIL: set[str] = set()
"""Default containers whose sample's direct removal the test makes fail."""


@solver
def _remove_sidecar() -> Solver:
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        if state.sample_id == "gone":
            # removed under the harness (a crash, docker's own cleanup): `docker rm -f` of a
            # missing container succeeds, and the rest goes as for any sample
            side = sandbox("sidecar").as_type(SchemingDockerSandbox)
            subprocess.run(
                ["docker", "rm", "-f", side._container], capture_output=True, timeout=120
            )
        if state.sample_id == "fails":
            _MADE_TO_FAIL.add(sandbox().as_type(SchemingDockerSandbox)._container)
        return state

    return solve


@pytest.mark.docker
def test_a_sample_without_volumes_is_removed_without_compose(
    docker_ready: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sample whose containers mount no docker volume (every rendered scenario's) is
    removed with `docker rm -f` and `docker network rm`, not compose down, and leaves
    nothing, also when one of its containers is already gone; where the direct removal fails
    (here: made to), compose down runs and leaves nothing either. With a volume (the lifecycle
    test above) compose down removes it."""
    from evals.sandbox import _docker_exec

    downs: list[str] = []
    down, remove = _docker_exec._down, _docker_exec._remove

    async def counted(project: Any) -> None:
        downs.append(project.name)
        await down(project)

    async def failing(teardown: Any) -> bool:
        if _MADE_TO_FAIL & set(teardown.containers):
            return False
        return await remove(teardown)

    monkeypatch.setattr(_docker_exec, "_down", counted)
    monkeypatch.setattr(_docker_exec, "_remove", failing)
    extra = {"sidecar": {"cap_drop": ["ALL"]}}
    tokens = {name: uuid.uuid4().hex[:12] for name in ("plain", "gone", "fails")}
    samples = [
        Sample(
            id=name,
            input="x",
            sandbox=SandboxEnvironmentSpec(SANDBOX, _compose(tmp_path, token, extra, volume=False)),
        )
        for name, token in tokens.items()
    ]
    log = _eval(samples, _remove_sidecar(), tmp_path / "logs")
    assert [s.error for s in log.samples or []] == [None, None, None]
    assert len(downs) == 1 and len(_MADE_TO_FAIL) == 1, downs
    for name, token in tokens.items():
        assert _left(f"{TOKEN}={token}") == {"containers": [], "networks": [], "volumes": []}, name
