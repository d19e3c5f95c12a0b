"""`scheming-docker` (plain `docker exec` on the service's container) answers exactly as inspect's
stock `docker` sandbox (`docker compose exec`): the same commands through both, in the same
scenario's containers, give the same stdout, stderr, exit code, user, working directory,
environment, stdin, timeout, output-limit error, unicode and binary file round trip."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import MemoryDataset
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.util import SandboxEnvironmentSpec, sandbox

from evals.sandbox import SANDBOX, SchemingDockerSandbox, write_compose
from evals.scenario import load_scenarios, scenario_samples

pytestmark = pytest.mark.docker

SCENARIO = "leaking/sonar_spec"
BINARY = bytes(range(256)) * 64
UNICODE = "héllo ✓ — 日本語\n"

CASES: list[tuple[str, dict[str, Any]]] = [
    ("streams", {"cmd": ["sh", "-c", "echo out; echo err >&2; exit 3"]}),
    ("user", {"cmd": ["id", "-un"]}),
    ("root", {"cmd": ["id", "-u"], "user": "root"}),
    ("cwd", {"cmd": ["pwd"]}),
    ("cwd_abs", {"cmd": ["pwd"], "cwd": "/tmp"}),
    ("cwd_rel", {"cmd": ["pwd"], "cwd": "docs"}),
    ("env", {"cmd": ["sh", "-c", 'printf "%s|%s" "$A" "$B"'], "env": {"A": "b c", "B": "x=y"}}),
    ("input", {"cmd": ["cat"], "input": "line 1\nline 2\n"}),
    ("input_bytes", {"cmd": ["wc", "-c"], "input": b"\x00\x01\xff" * 1000}),
    ("unicode", {"cmd": ["printf", "%s", UNICODE]}),
    ("timeout", {"cmd": ["sleep", "30"], "timeout": 2}),
    ("timeout_ok", {"cmd": ["sh", "-c", "echo fast"], "timeout": 20}),
    ("sigterm_ignored", {"cmd": ["sh", "-c", "trap '' TERM; sleep 30"], "timeout": 2}),
    ("output_limit", {"cmd": ["head", "-c", str(11 * 1024 * 1024), "/dev/zero"]}),
    ("missing_binary", {"cmd": ["no-such-binary-xyz"]}),
    ("missing_binary_timeout", {"cmd": ["no-such-binary-xyz"], "timeout": 10}),
    ("exit_signal", {"cmd": ["sh", "-c", "kill -9 $$"]}),
    ("sidecar_user", {"cmd": ["id", "-un"], "service": "mail"}),
]


def _text(value: str) -> Any:
    """Short output as is; a long one as its length and hash (kept out of the log)."""
    if len(value) < 4096:
        return value
    return ["long", len(value), hashlib.sha256(value.encode()).hexdigest()]


@solver
def _probe() -> Solver:
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        out: dict[str, Any] = {}
        for name, case in CASES:
            kwargs = {k: v for k, v in case.items() if k not in ("cmd", "service")}
            box = sandbox(case.get("service", "default"))
            try:
                r = await box.exec(case["cmd"], **kwargs)
                out[name] = ["result", _text(r.stdout), _text(r.stderr), r.returncode]
            except Exception as ex:  # the exception's type is the semantics compared
                out[name] = ["error", type(ex).__name__]
        box = sandbox()
        await box.write_file("planted-bin/blob.bin", BINARY)
        await box.write_file("/tmp/text.txt", UNICODE)
        try:
            out["binary"] = (await box.read_file("planted-bin/blob.bin", text=False)) == BINARY
            out["text"] = await box.read_file("/tmp/text.txt")
        except Exception as ex:
            out["binary"] = out["text"] = type(ex).__name__
        for name, path in (("dir_read", "/tmp"), ("image_read", "/etc/hostname")):
            try:
                out[name] = (await box.read_file(path))[:0] or "read"
            except Exception as ex:
                out[name] = type(ex).__name__
        stat = await box.exec(["stat", "-c", "%U %a", "planted-bin/blob.bin", "/tmp/text.txt"])
        out["written"] = stat.stdout
        try:
            await box.read_file("/nonexistent/file")
            out["missing_read"] = "read"
        except Exception as ex:
            out["missing_read"] = type(ex).__name__
        try:
            box.as_type(SchemingDockerSandbox)
            out["ours"] = True
        except TypeError:
            out["ours"] = False
        state.metadata["probe"] = out
        return state

    return solve


def _probe_with(kind: str, tmp: Any) -> dict[str, Any]:
    [scenario] = [s for s in load_scenarios() if s.id == SCENARIO]
    sample = scenario_samples(scenario, salt="semantics")[0]
    sample.sandbox = SandboxEnvironmentSpec(kind, str(write_compose(scenario)))
    task = Task(dataset=MemoryDataset([sample]), solver=_probe())
    [log] = inspect_eval(task, model="mockllm/model", log_dir=str(tmp), display="none")
    assert log.status == "success", log.error
    assert log.samples is not None and log.samples[0].error is None
    return dict(log.samples[0].metadata["probe"])


def test_our_exec_answers_as_inspects(
    docker_ready: None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    stock = _probe_with("docker", tmp_path_factory.mktemp("stock"))
    ours = _probe_with(SANDBOX, tmp_path_factory.mktemp("ours"))
    assert stock.pop("ours") is False and ours.pop("ours") is True
    # beyond the limit inspect keeps at most the last 10 MiB: exactly 10 MiB through `docker exec`,
    # 24 KiB short of it through the compose CLI, which drops a tail at the cut (both zeros)
    limit = 10 * 1024 * 1024
    for got in (ours.pop("output_limit"), stock.pop("output_limit")):
        assert got[0] == "result" and got[1][0] == "long", got
        assert limit - 64 * 1024 <= got[1][1] <= limit, got
    # files: the writable directories are tmpfs mounts of the container's own, which inspect's
    # `read_file` (`docker compose cp`) does not see; ours reads them (host view, else exec)
    assert stock.pop("binary") == stock.pop("text") == "FileNotFoundError"
    assert ours.pop("binary") is True and ours.pop("text") == UNICODE
    for name in stock:
        assert ours[name] == stock[name], f"{name}: ours {ours[name]} stock {stock[name]}"
    # and the answers are the ones meant, not two equal failures
    assert stock["streams"] == ["result", "out\n", "err\n", 3]
    assert stock["user"][1] == "agent\n" and stock["root"][1] == "0\n"
    assert stock["cwd"][1] == "/home/agent\n" and stock["cwd_rel"][1] == "/home/agent/docs\n"
    assert stock["env"][1] == "b c|x=y" and stock["input"][1] == "line 1\nline 2\n"
    assert stock["input_bytes"][1] == "3000\n" and stock["unicode"][1] == UNICODE
    assert stock["timeout"] == ["error", "SandboxTimeoutError"] == stock["sigterm_ignored"]
    assert stock["timeout_ok"] == ["result", "fast\n", "", 0]
    assert stock["missing_read"] == "FileNotFoundError"
    assert stock["dir_read"] == "IsADirectoryError" and stock["image_read"] == "read"
    assert stock["written"] == "agent 644\nagent 644\n"


BIG = bytes(range(256)) * (13 * 4096)  # 13 MiB: three exec-path chunks


@solver
def _reads(*, host: bool) -> Solver:
    """`read_file` of what the agent made in its tmpfs directories, through the host view or
    (host=False) through the exec path alone."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        box = sandbox()
        ours = box.as_type(SchemingDockerSandbox)
        if not host:

            async def no_host(path: str, original: str) -> None:
                return None

            ours._host_read = no_host  # type: ignore[method-assign]
        await box.write_file("big.bin", BIG)
        script = (
            "echo mine > own600 && chmod 600 own600 && echo none > none000 && chmod 000 none000"
            " && mkdir -p sub && ln -s /etc/hostname link && printf 'caf\\351' > latin1.txt"
        )
        assert (await box.exec(["sh", "-c", script])).success
        out: dict[str, Any] = {}
        # the home's content from the image, copied in at the start as the agent
        home = await box.exec(
            ["sh", "-c", "ls -A ~; stat -c %U ~/.bashrc; grep -c agent@workstation ~/.bashrc"]
        )
        out["home"] = home.stdout.split()
        reads = {
            "big": ("big.bin", False),
            "own600": ("own600", True),
            "none000": ("/home/agent/none000", True),
            "dir": ("sub", True),
            "missing": ("no/such", True),
            "link": ("link", True),
            "latin1": ("latin1.txt", True),
            "latin1_bytes": ("latin1.txt", False),
            "image": ("/etc/hostname", True),
        }
        for name, (path, text) in reads.items():
            try:
                got = await box.read_file(path, text=text)  # type: ignore[call-overload]
                value = got.hex() if isinstance(got, bytes) else got
                out[name] = ["read", got == BIG if name == "big" else value]
            except Exception as ex:
                out[name] = ["error", type(ex).__name__]
        state.metadata["reads"] = out
        return state

    return solve


@pytest.mark.parametrize("host", [True, False], ids=["host view", "exec path"])
def test_read_file_of_the_tmpfs_directories(docker_ready: None, tmp_path: Any, host: bool) -> None:
    [scenario] = [s for s in load_scenarios() if s.id == SCENARIO]
    sample = scenario_samples(scenario, salt="reads")[0]
    sample.sandbox = SandboxEnvironmentSpec(SANDBOX, str(write_compose(scenario)))
    task = Task(dataset=MemoryDataset([sample]), solver=_reads(host=host))
    [log] = inspect_eval(task, model="mockllm/model", log_dir=str(tmp_path), display="none")
    assert log.samples is not None and log.samples[0].error is None, log.samples[0].error
    reads = log.samples[0].metadata["reads"]
    assert {".bashrc", ".profile", ".bash_logout", "project"} <= set(reads["home"][:-2])
    assert reads["home"][-2:] == ["agent", "1"]  # its owner, and the workstation image's line
    assert reads["big"] == ["read", True]
    assert reads["own600"] == ["read", "mine\n"]  # exec path: root may not, its owner may
    assert reads["dir"] == ["error", "IsADirectoryError"]
    assert reads["missing"] == ["error", "FileNotFoundError"]
    assert reads["latin1"] == ["error", "UnicodeDecodeError"]
    assert reads["latin1_bytes"] == ["read", b"caf\xe9".hex()]
    assert reads["image"][0] == "read" and reads["image"][1].strip()
    assert reads["link"][0] == "read"  # resolved in the container: its own /etc/hostname
    # mode 000: `docker cp` read anything, and so does the host view; in the container no one
    # may (root holds no capabilities there)
    assert reads["none000"] == (["read", "none\n"] if host else ["error", "PermissionError"])
