"""`scheming run`'s run control without Docker: flags and inspect's environment variables reach
eval_set, the effective settings are printed and stored in the eval metadata, and bad values or a
grader that is the target at the same endpoint fail in one line before anything starts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evals.analysis._synthetic import SCHEMER_VALUE, make_log, make_sample

SCENARIO_GLOB = "oversight_subversion/*"


def _main(args: list[str]) -> int:
    from evals.cli import main

    try:
        return main(args)
    except SystemExit as ex:  # argparse's own errors
        return int(ex.code or 0)


@pytest.fixture
def fake_eval_set(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """eval_set replaced by a recorder that returns one synthetic log; no engine, no images."""
    seen: dict[str, Any] = {}

    def eval_set(task: Any, **kwargs: Any) -> tuple[bool, list[Any]]:
        seen.update(kwargs)
        usage_sample = make_sample(SCENARIO_GLOB.replace("*", "transit-planner"), {}, SCHEMER_VALUE)
        return True, [make_log("scripted/schemer", [usage_sample])]

    monkeypatch.setattr("inspect_ai.eval_set", eval_set)
    monkeypatch.setattr("evals.sandbox.engine_ready", lambda: None)
    monkeypatch.setattr("evals.sandbox.build_images", lambda images: None)
    monkeypatch.setattr("evals.sandbox.cleanup", lambda run_id: _Removed())
    return seen


def _record(started: list[object], args: object) -> int:
    started.append(args)
    return 0


class _Removed:
    containers: list[str] = []
    networks: list[str] = []
    volumes: list[str] = []


def _run_args(tmp_path: Path, *more: str) -> list[str]:
    return [
        "run",
        "--model",
        "scripted/schemer",
        "--scenario",
        SCENARIO_GLOB,
        "--display",
        "none",
        "--log-dir",
        str(tmp_path / "logs"),
        *more,
    ]


def test_flags_and_environment_reach_eval_set_and_the_log(
    fake_eval_set: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("INSPECT_EVAL_MAX_RETRIES", "2")  # inspect's variable, honoured
    monkeypatch.setenv("INSPECT_EVAL_MAX_CONNECTIONS", "7")
    summary = tmp_path / "summary.json"
    args = _run_args(
        tmp_path,
        "--timeout", "30", "--max-tokens", "512", "--max-sandboxes", "16",
        "--token-limit", "100000", "--working-limit", "600", "--max-connections", "3",
        "--fail-on-error", "0.2", "--retry-on-error", "0", "--summary-json", str(summary),
    )  # fmt: skip
    assert _main(args) == 0
    seen = fake_eval_set
    assert seen["max_retries"] == 2  # from the environment
    assert seen["max_connections"] == 3  # the flag beats the environment
    assert (seen["timeout"], seen["max_tokens"], seen["max_sandboxes"]) == (30, 512, 16)
    assert (seen["token_limit"], seen["working_limit"]) == (100_000, 600)
    # not given: 2 x --max-sandboxes, so the sandboxes' docker CLI calls do not queue on
    # inspect's subprocess limit (the CPU count)
    assert seen["max_subprocesses"] == 32
    assert (seen["fail_on_error"], seen["retry_on_error"]) == (0.2, 0)
    settings = seen["metadata"]["run_settings"]
    control = settings["run_control"]
    assert control["max_retries"] == 2 and control["working_limit"] == 600
    assert settings["set_by"]["max_retries"] == "INSPECT_EVAL_MAX_RETRIES"
    assert settings["set_by"]["max_connections"] == "--max-connections"
    assert control["max_subprocesses"] == 32 and "max_subprocesses" not in settings["set_by"]
    assert settings["judge"]["model"] == "scripted/labels"
    assert settings["judge"]["temperature"] == 0
    err = capsys.readouterr().err
    assert "settings:" in err and "max_retries=2" in err and "working_limit=600" in err
    assert "max_subprocesses=32" in err
    rows = json.loads(summary.read_text())
    assert {"samples", "excluded", "limits", "error_reasons", "no_tool_calls", "usage"} <= set(
        rows[0]
    )


def test_defaults_keep_errors_counted_and_never_rerun_a_sample(
    fake_eval_set: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("MAX_RETRIES", "TIMEOUT", "FAIL_ON_ERROR", "RETRY_ON_ERROR", "MAX_CONNECTIONS"):
        monkeypatch.delenv(f"INSPECT_EVAL_{name}", raising=False)
    assert _main(_run_args(tmp_path)) == 0
    assert fake_eval_set["fail_on_error"] is False
    # an errored sample is not paid for twice unless asked (--retry-on-error N); nor is a
    # failed task run again by eval_set (one attempt)
    assert fake_eval_set["retry_on_error"] == 0 and fake_eval_set["retry_attempts"] == 1
    assert fake_eval_set["metadata"]["run_settings"]["run_control"]["retry_on_error"] == 0
    assert "retry_on_error=0" in capsys.readouterr().err
    assert "max_retries" not in fake_eval_set and "timeout" not in fake_eval_set
    fake_eval_set.clear()
    assert _main(_run_args(tmp_path, "--retry-on-error", "2")) == 0
    assert fake_eval_set["retry_on_error"] == 2
    assert fake_eval_set["metadata"]["run_settings"]["set_by"]["retry_on_error"] == (
        "--retry-on-error"
    )


BAD = [
    (["--max-retries", "-1"], "--max-retries: -1 is outside"),
    (["--timeout", "0"], "--timeout: 0 is outside"),
    (["--working-limit", "x"], "--working-limit: 'x' is not a whole number"),
    (["--fail-on-error", "lots"], "--fail-on-error 'lots'"),
    (["--prices", "{bad}"], "--prices:"),
    (
        ["--model", "openai-api/one/gpt-x", "--grader", "openai-api/two/GPT-X"],
        "same endpoint",
    ),
]


@pytest.mark.parametrize(("extra", "message"), BAD)
def test_bad_run_control_fails_in_one_line(
    extra: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ONE_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("TWO_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("ONE_API_KEY", "k")
    monkeypatch.setenv("TWO_API_KEY", "k")
    bad_prices = tmp_path / "prices.yaml"
    bad_prices.write_text("models:\n  - {match: 'x/*', input: -1, output: 1}\n")
    extra = [e.replace("{bad}", str(bad_prices)) for e in extra]
    started: list[object] = []
    monkeypatch.setattr("evals.cli._run._execute", lambda *a, **k: _record(started, a))
    args = _run_args(tmp_path, *extra)
    if "--grader" in extra:
        args.remove("scripted/schemer")
        args.remove("--model")
    assert _main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert started == []


def test_max_subprocesses_flag_environment_and_default_reach_eval_set(
    fake_eval_set: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MAX_SUBPROCESSES", "MAX_SANDBOXES"):
        monkeypatch.delenv(f"INSPECT_EVAL_{name}", raising=False)
    monkeypatch.setattr("evals.cli._run._cpus", lambda: 2)  # a 2-core machine
    cases = [
        ([], {}, 8),  # inspect's 4 sandboxes (2 x CPUs) x 2, raised to the floor of 8
        (["--max-sandboxes", "10"], {}, 20),
        (["--max-sandboxes", "2"], {}, 8),
        (["--max-sandboxes", "10", "--max-subprocesses", "3"], {}, 3),  # the flag wins
        ([], {"INSPECT_EVAL_MAX_SUBPROCESSES": "5"}, 5),  # inspect's variable, honoured
        ([], {"INSPECT_EVAL_MAX_SANDBOXES": "12"}, 24),
    ]
    for extra, env, expected in cases:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        fake_eval_set.clear()
        assert _main(_run_args(tmp_path, *extra)) == 0
        assert fake_eval_set["max_subprocesses"] == expected, (extra, env)
        stored = fake_eval_set["metadata"]["run_settings"]["run_control"]
        assert stored["max_subprocesses"] == expected
        for name in env:
            monkeypatch.delenv(name)
    assert _main(_run_args(tmp_path, "--max-subprocesses", "0")) == 2


def test_environment_value_that_does_not_parse_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INSPECT_EVAL_TIMEOUT", "soon")
    monkeypatch.setattr("evals.cli._run._execute", lambda *a, **k: 0)
    assert _main(_run_args(tmp_path)) == 2
    assert "INSPECT_EVAL_TIMEOUT=soon" in capsys.readouterr().err


def test_price_override_is_tried_first(tmp_path: Path) -> None:
    from evals.analysis._cost import load_prices, usage_block

    own = tmp_path / "prices.yaml"
    own.write_text("per: 1000\nmodels:\n  - {match: 'openai-api/local/*', input: 1, output: 2}\n")
    table = load_prices(own)
    block = usage_block({"openai-api/local/m": {"input": 1000, "output": 500}}, table)
    assert block["cost_usd"] == pytest.approx(2.0)  # 1000 × $1/1k + 500 × $2/1k
    assert load_prices().cost("openai-api/local/m", {"input": 1}) is None


def test_dry_run_prints_an_estimate_and_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started: list[object] = []
    monkeypatch.setattr("evals.cli._run._execute", lambda *a, **k: _record(started, a))
    assert _main(_run_args(tmp_path, "--dry-run", "--budget", "0.5", "--max-tokens", "200")) == 0
    out = capsys.readouterr().out
    assert started == [] and not (tmp_path / "logs").exists()
    assert "dry run:" in out and "scripted/schemer:" in out and "requests" in out
    assert "estimated cost: $0.00–$0.00" in out
    assert "max_tokens=200" in out and "budget_usd=0.5" in out


def test_budget_refuses_a_model_without_a_price_unless_a_price_file_has_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from evals.analysis._cost import PRICES_FILE

    monkeypatch.setenv("LOCAL_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("LOCAL_API_KEY", "k")
    started: list[object] = []
    monkeypatch.setattr("evals.cli._run._execute", lambda *a, **k: _record(started, a))
    args = [
        "run", "--model", "openai-api/local/target", "--grader", "openai-api/local/judge",
        "--scenario", SCENARIO_GLOB, "--log-dir", str(tmp_path / "logs"), "--budget", "5",
    ]  # fmt: skip
    assert _main(args) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "--budget: no price for openai-api/local/target" in line and str(PRICES_FILE) in line
    assert started == []
    # a price file for the target only: now the judge is the one without a price
    own = tmp_path / "prices.yaml"
    own.write_text("models:\n  - {match: 'openai-api/local/target', input: 1, output: 2}\n")
    assert _main([*args, "--prices", str(own)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "no price for openai-api/local/judge" in line and str(own) in line
    own.write_text("models:\n  - {match: 'openai-api/local/*', input: 1, output: 2}\n")
    assert _main([*args, "--prices", str(own)]) == 0
    assert len(started) == 1
    # without --budget an unpriced model runs (its cost shows as unknown, not $0)
    assert _main(args[:-2]) == 0
    assert len(started) == 2


def test_max_retries_turns_the_sdk_clients_own_retries_off(
    fake_eval_set: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the request counts against a server are in test_fault_matrix (1 + max_retries); here:
    # what `scheming run` hands eval_set
    for name, value in [("LOCAL_BASE_URL", "http://127.0.0.1:9/v1"), ("LOCAL_API_KEY", "k"),
                        ("ANTHROPIC_API_KEY", "k")]:  # fmt: skip
        monkeypatch.setenv(name, value)
    args = [
        "run", "--model", "openai-api/local/target", "--grader", "anthropic/judge",
        "--scenario", SCENARIO_GLOB, "--log-dir", str(tmp_path / "logs"), "--display", "none",
    ]  # fmt: skip
    assert _main([*args, "--max-retries", "2"]) == 0
    [target], judge = fake_eval_set["model"], fake_eval_set["model_roles"]["grader"]
    assert target.api.client.max_retries == 0 and judge.api.client.max_retries == 0
    assert fake_eval_set["max_retries"] == 2
    fake_eval_set.clear()
    monkeypatch.delenv("INSPECT_EVAL_MAX_RETRIES", raising=False)
    assert _main(args) == 0  # not set: inspect's retries and the SDK's defaults, by name
    assert fake_eval_set["model"] == ["openai-api/local/target"]
