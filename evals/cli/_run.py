"""`scheming run`: check every argument before anything starts, then run inspect's eval_set.

Robustness: bad values fail in one line (exit 2) before a container starts; one sample's error
is recorded and the others go on (`fail_on_error=False`; no re-run of an errored sample unless
--retry-on-error); SIGTERM is Ctrl-C (see `_main`); the run's containers are removed on any
exit, and a run in a log dir whose previous run was killed removes that run's containers first
(`RUN_FILE`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evals.cli._common import add_scenario_packs, report_problems
from evals.scenario import (
    Scenario,
    ScenarioError,
    load_scenarios,
    scenario_images,
    select,
    use_packs,
)

RUN_FILE = ".scheming-run"
"""In the log dir: the run id (and pid, host) of the run writing there, so the next run in
that dir can remove the containers of one that was killed."""
DISPLAYS = ("full", "conversation", "rich", "plain", "log", "none")
MAX_EPOCHS = 1000
MAX_SAMPLES = 10_000
LOCAL_PROVIDERS = frozenset(
    {"hf", "vllm", "vllm-completions", "sglang", "llama-cpp-python", "transformer_lens", "nnterp"}
)
"""Providers whose client loads weights or starts a server: not built just to check a name."""
SAMPLE_RETRIES = 0
"""Times an errored sample is run again, from scratch, before it is recorded as errored: none
unless asked (`--retry-on-error N`): a re-run pays again for every request before the error
(those tokens are counted: evals.agent._accounting 'reruns')."""


def _bounded_int(low: int, high: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value

    return parse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run scenarios against one or more models")
    p.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="M",
        help="model to test, e.g. scripted/schemer, openai/gpt-5 (repeatable)",
    )
    p.add_argument("--suite", help="suite name from scenarios/suites (smoke, core, full)")
    p.add_argument(
        "--scenario",
        action="append",
        metavar="ID",
        help="scenario id or glob, e.g. 'oversight_subversion/*' (repeatable)",
    )
    p.add_argument("--factor", action="append", metavar="K=V", help="keep samples with K=V")
    add_scenario_packs(p)
    p.add_argument(
        "--sandbox",
        choices=("docker", "k8s"),
        default="docker",
        help="docker (this machine) or k8s (inspect-k8s-sandbox: pip install '.[k8s]'; "
        "docs/kubernetes.md)",
    )
    p.add_argument(
        "--registry",
        metavar="REGISTRY",
        help="with --sandbox k8s: where the cluster pulls the images, e.g. registry.example/evals",
    )
    p.add_argument(
        "--runtime-class",
        default="gvisor",
        metavar="NAME",
        help="with --sandbox k8s: the pods' runtimeClassName (default gvisor)",
    )
    p.add_argument("--epochs", type=_bounded_int(1, MAX_EPOCHS), default=1, metavar="N")
    p.add_argument(
        "--log-dir",
        help="where .eval logs go (default: logs/run-<time>); "
        "running again with the same --log-dir resumes an interrupted run",
    )
    p.add_argument("--summary-json", metavar="PATH", help="write the summary rows as JSON")
    p.add_argument("--grader", metavar="M", help="judge model for the interrogation (role grader)")
    p.add_argument(
        "--followups",
        type=int,
        choices=range(0, 8),
        metavar="N",
        help="most escalating interrogation follow-ups (0..7; default: scenario, family, else 3)",
    )
    p.add_argument(
        "--max-samples", type=_bounded_int(1, MAX_SAMPLES), metavar="N", help="samples run at once"
    )
    p.add_argument("--display", default=None, choices=DISPLAYS, help="inspect display")
    g = p.add_argument_group(
        "run control (passed to inspect; each defaults to inspect's environment variable, "
        "e.g. INSPECT_EVAL_MAX_RETRIES, then inspect's own default)"
    )
    for flag, kind, help_text in CONTROL_FLAGS:
        g.add_argument(
            f"--{flag}", type=kind, default=None, metavar="N", help=help_text
        )  # fmt: skip
    g.add_argument(
        "--fail-on-error",
        nargs="?",
        const="true",
        default=None,
        metavar="X",
        help="stop the run on a sample error (no value), after X errors (X >= 1) or when a "
        "share X (< 1) of samples errored; default: never (errored samples are counted)",
    )
    g.add_argument(
        "--retry-on-error",
        type=_bounded_int(0, 10),
        default=None,
        metavar="N",
        help=f"times an errored sample is run again, from scratch (default {SAMPLE_RETRIES}); "
        "a re-run pays again for the requests before the error, which count in the cost",
    )
    g.add_argument(
        "--budget",
        type=_positive_float,
        default=None,
        metavar="USD",
        help="stop starting samples once the run's estimated cost (price table) reaches USD; "
        "samples under way finish, the others count as limit hit (cost)",
    )
    g.add_argument(
        "--dry-run",
        action="store_true",
        help="print the settings, samples, expected requests and a token and cost range; "
        "run nothing",
    )
    g.add_argument(
        "--prices",
        metavar="FILE",
        help="price table (YAML, like evals/analysis/prices.yaml) tried before the packaged one",
    )
    p.set_defaults(func=run)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0 < value <= 10**7:
        raise argparse.ArgumentTypeError(f"{value} is outside (0, 10000000]")
    return value


CONTROL_FLAGS: list[tuple[str, Any, str]] = [
    ("max-retries", _bounded_int(0, 100), "retries of a failed model request (then it errors)"),
    ("timeout", _bounded_int(1, 86_400), "seconds for one model request, retries included"),
    ("attempt-timeout", _bounded_int(1, 86_400), "seconds for one attempt of a model request"),
    ("max-tokens", _bounded_int(1, 10**7), "most tokens per target turn (task and interrogation)"),
    ("max-connections", _bounded_int(1, 10_000), "concurrent requests per model"),
    ("max-sandboxes", _bounded_int(1, 10_000), "concurrent sandboxes (inspect: 2 x CPUs)"),
    (
        "max-subprocesses",
        _bounded_int(1, 10_000),
        "concurrent subprocesses, every docker CLI call of every sandbox among them "
        "(default: 2 x max-sandboxes, at least 8; inspect's own is the CPU count)",
    ),
    ("token-limit", _bounded_int(1, 10**9), "most tokens per sample (then: limit hit, token)"),
    (
        "working-limit",
        _bounded_int(1, 10**6),
        "most seconds of working time per sample; retry back-off and waiting for a connection "
        "or sandbox do not count (then: limit hit, working)",
    ),
]
"""Run-control flags: (flag, parser, help). Each is passed to inspect's eval_set under its
name with '_' for '-', and read from INSPECT_EVAL_<NAME> when not given."""


class UsageError(Exception):
    """A bad argument: one line, exit 2, nothing started."""


def _one_line(ex: BaseException) -> str:
    import re

    text = re.sub(r"\[/?[a-z ]+\]", "", str(ex))  # rich markup in inspect's messages
    parts = [line.strip().removeprefix("ERROR: ") for line in text.splitlines() if line.strip()]
    return ": ".join(parts)[:400] or type(ex).__name__


def _check_factors(factors: list[str], chosen: list[Scenario]) -> None:
    wanted: dict[str, str] = {}
    for f in factors:
        key, sep, value = f.partition("=")
        if not sep or not key or not value:
            raise UsageError(f"--factor {f!r}: expected K=V")
        if key in wanted and wanted[key] != value:
            raise UsageError(f"--factor {key}: given twice ({wanted[key]}, {value})")
        wanted[key] = value
    for key, value in wanted.items():
        values = {v for s in chosen for v in s.factors.get(key, ())}
        if not values:
            raise UsageError(f"--factor {key}={value}: no chosen scenario has a factor '{key}'")
        if value not in values:
            raise UsageError(f"--factor {key}={value}: '{key}' takes {', '.join(sorted(values))}")


def _check_models(models: list[str], grader: str, chosen: list[Scenario]) -> None:
    from inspect_ai.model import get_model

    from evals.graders import SCRIPTED_GRADER, GraderError, check_grader

    policies = {name for s in chosen for name in s.reference}
    if len(set(models)) != len(models):
        raise UsageError("--model: a model is given twice")
    for m in models:
        if m.startswith("scripted/"):
            policy = m.removeprefix("scripted/")
            if policy not in policies:
                raise UsageError(
                    f"--model {m}: no chosen scenario has a reference trajectory '{policy}' "
                    f"(they have: {', '.join(sorted(policies)) or 'none'})"
                )
        try:
            check_grader(grader, m)
        except GraderError as ex:
            raise UsageError(str(ex)) from None
    if grader.startswith("scripted/") and grader != SCRIPTED_GRADER:
        raise UsageError(f"--grader {grader}: the only scripted grader is {SCRIPTED_GRADER}")
    built: dict[str, Any] = {}
    for flag, m in [("--model", m) for m in models] + [("--grader", grader)]:
        if m.split("/", 1)[0] in LOCAL_PROVIDERS:
            continue
        try:
            built[m] = get_model(m)  # provider known, its package and key present; nothing sent
        except Exception as ex:  # noqa: BLE001 - inspect raises many kinds
            raise UsageError(f"{flag} {m}: {_one_line(ex)}") from None
    _check_endpoints(models, grader, built)


def _check_endpoints(models: list[str], grader: str, built: dict[str, Any]) -> None:
    """The grader is not a target under another name: same model name at the same base URL."""
    from evals.graders import GraderError, check_grader_endpoint

    if grader not in built:
        return
    for m in models:
        if m.startswith("scripted/") or m not in built:
            continue
        try:
            check_grader_endpoint(built[grader], built[m])
        except GraderError as ex:
            raise UsageError(str(ex)) from None


def _check_writable_file(flag: str, path: Path) -> None:
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a directory")
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a"):
            pass
    except OSError as ex:
        raise UsageError(f"{flag} {path}: cannot write there ({ex.strerror or ex})") from None
    if not existed:
        path.unlink(missing_ok=True)


def _check_log_dir(log_dir: Path) -> None:
    if log_dir.exists() and not log_dir.is_dir():
        raise UsageError(f"--log-dir {log_dir}: not a directory")
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as ex:
        raise UsageError(f"--log-dir {log_dir}: cannot create it ({ex.strerror or ex})") from None
    if not os.access(log_dir, os.W_OK):
        raise UsageError(f"--log-dir {log_dir}: not writable")


def _alive(pid: int) -> bool:
    """A live `scheming run` process (a zombie or a reused pid is not one)."""
    try:
        os.kill(pid, 0)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False
    return b"scheming" in cmdline or b"evals" in cmdline


def _previous_run(log_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((log_dir / RUN_FILE).read_text()[:4096])
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("run_id"), str) else None


def _claim_log_dir(log_dir: Path, run_id: str) -> str | None:
    """Record this run in the log dir; returns the id of an earlier run to clean up, if any.
    Raises UsageError when a live run is writing the same log dir."""
    prev = _previous_run(log_dir)
    if prev is not None:
        pid = prev.get("pid")
        same_host = prev.get("host") == socket.gethostname()
        if same_host and isinstance(pid, int) and pid != os.getpid() and _alive(pid):
            raise UsageError(f"--log-dir {log_dir}: a run (pid {pid}) is writing there now")
    record = {
        "run_id": run_id,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    tmp = log_dir / (RUN_FILE + ".tmp")
    tmp.write_text(json.dumps(record) + "\n")
    tmp.replace(log_dir / RUN_FILE)
    return prev["run_id"] if prev is not None else None


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Let cleanup finish: a second Ctrl-C or SIGTERM must not leave containers behind."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def _env_name(flag: str) -> str:
    return "INSPECT_EVAL_" + flag.upper().replace("-", "_")


def run_control(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str]]:
    """The eval_set options of the run-control flags, each from its flag, else inspect's
    environment variable, else left to inspect; and where each value came from.
    Raises UsageError for an environment value that does not parse."""
    options: dict[str, Any] = {}
    source: dict[str, str] = {}
    for flag, kind, _ in CONTROL_FLAGS:
        name = flag.replace("-", "_")
        value = getattr(args, name, None)
        if value is not None:
            options[name], source[name] = value, f"--{flag}"
            continue
        env = os.environ.get(_env_name(flag))
        if env:
            try:
                options[name] = kind(env)
            except argparse.ArgumentTypeError as ex:
                raise UsageError(f"{_env_name(flag)}={env}: {ex}") from None
            source[name] = _env_name(flag)
    fail = getattr(args, "fail_on_error", None)
    fail_source = "--fail-on-error"
    if fail is None and os.environ.get("INSPECT_EVAL_FAIL_ON_ERROR"):
        fail, fail_source = os.environ["INSPECT_EVAL_FAIL_ON_ERROR"], "INSPECT_EVAL_FAIL_ON_ERROR"
    if fail is None:
        options["fail_on_error"], source["fail_on_error"] = False, "default"
    else:
        options["fail_on_error"], source["fail_on_error"] = _fail_value(fail), fail_source
    retry = getattr(args, "retry_on_error", None)
    retry_source = "--retry-on-error"
    if retry is None and os.environ.get("INSPECT_EVAL_RETRY_ON_ERROR"):
        env = os.environ["INSPECT_EVAL_RETRY_ON_ERROR"]
        try:
            retry = _bounded_int(0, 10)(env)
        except argparse.ArgumentTypeError as ex:
            raise UsageError(f"INSPECT_EVAL_RETRY_ON_ERROR={env}: {ex}") from None
        retry_source = "INSPECT_EVAL_RETRY_ON_ERROR"
    if retry is None:
        retry, retry_source = SAMPLE_RETRIES, "default"
    options["retry_on_error"], source["retry_on_error"] = retry, retry_source
    if "max_subprocesses" not in options:
        options["max_subprocesses"] = default_subprocesses(options.get("max_sandboxes"))
        source["max_subprocesses"] = "default"
    return options, source


SUBPROCESSES_PER_SANDBOX = 2
MIN_SUBPROCESSES = 8


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_subprocesses(max_sandboxes: int | None) -> int:
    """`--max-subprocesses` when not given: 2 x the sandboxes that may run at once (inspect's
    docker default, 2 x CPUs, when --max-sandboxes is not given either), at least 8.

    Why: every docker CLI call a sandbox makes (compose up/down, each exec of a tool call or a
    detector probe, each file copy) is a subprocess, and inspect's subprocess limit defaults to
    the CPU count: on a 2-core machine 2 docker calls ran at once across all samples, so the
    samples queued on the limiter, not on the machine (the docker CLI mostly waits on the
    daemon). A running sample has about one call in flight (its tool call) and sometimes a
    second (a lever snapshot, a sidecar read, a start or teardown overlapping it): 2 per sandbox
    keeps the limiter out of the way; 8 at least lets starts and teardowns overlap on small
    machines. Measured: the reference replay on 2 cores, 33 samples, 139 s at the default (2)
    and 95 s at 16 (tests/docker/test_references.py)."""
    sandboxes = max_sandboxes or 2 * _cpus()
    return max(MIN_SUBPROCESSES, SUBPROCESSES_PER_SANDBOX * sandboxes)


def _fail_value(text: str | bool) -> bool | float:
    if isinstance(text, bool):
        return text
    low = text.strip().lower()
    if low in ("true", "yes", "1.0"):
        return True
    if low in ("false", "no", "0"):
        return False
    try:
        value = float(low)
    except ValueError:
        raise UsageError(
            f"--fail-on-error {text!r}: expected nothing, a count or a share"
        ) from None
    if value <= 0:
        raise UsageError(f"--fail-on-error {text!r}: must be > 0")
    return True if value == 1 else (value if value < 1 else float(int(value)))


SDK_RETRY_PROVIDERS = frozenset({"openai", "openai-api", "anthropic"})
"""Providers whose SDK client retries failed requests on its own (openai and anthropic: 2 times
by default), under inspect's retries."""


def with_sdk_retries(model: str, max_retries: int | None) -> Any:
    """`model` for eval_set: where a retry count is set and the provider's SDK client retries on
    its own, a model whose client does not (`max_retries=0` to the client), so that a failing
    request is sent 1 + max_retries times in all, not (1 + max_retries) x 3; else the name."""
    if max_retries is None or model.split("/", 1)[0] not in SDK_RETRY_PROVIDERS:
        return model
    from inspect_ai.model import get_model

    return get_model(model, max_retries=0)


def run_settings(
    args: argparse.Namespace,
    grader: str,
    options: dict[str, Any],
    source: dict[str, str],
) -> dict[str, Any]:
    """The effective settings of a run, printed at its start and stored in every log's eval
    metadata (`run_settings`)."""
    from evals.analysis._cost import load_prices

    inspect_defaults = {
        "max_retries": "inspect default (retry until timeout)",
        "timeout": "none",
        "attempt_timeout": "none",
        "max_tokens": "provider default",
        "max_connections": "provider default",
        "max_sandboxes": "2 x CPUs (docker)",
        "max_subprocesses": "CPUs",
        "token_limit": "none",
        "working_limit": "none",
    }
    control: dict[str, Any] = {}
    for key, default in inspect_defaults.items():
        control[key] = options.get(key, default)
    control["max_samples"] = args.max_samples or "inspect default"
    control["epochs"] = args.epochs
    control["fail_on_error"] = options["fail_on_error"]
    control["retry_on_error"] = options["retry_on_error"]
    given = {k: v for k, v in source.items() if v != "default"}
    prices = load_prices(getattr(args, "prices", None))
    control["budget_usd"] = getattr(args, "budget", None) or "none"
    return {
        "run_control": control,
        "set_by": given or {"-": "inspect and scheming defaults"},
        "judge": judge_settings(grader, options),
        "prices": {"sources": list(prices.sources), "as_of": prices.as_of},
    }


def judge_settings(grader: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The judge: model, endpoint and the generation settings the harness asks for (what each
    provider actually sent is recorded per sample: `scheming:accounting` 'sent')."""
    from inspect_ai.model import get_model

    from evals.graders import judge_config

    out: dict[str, Any] = {"model": grader}
    try:
        model = get_model(grader)
    except Exception as ex:  # noqa: BLE001 - checked before; keep the settings printable
        out["error"] = _one_line(ex)
        return out
    out["base_url"] = model.api.base_url or "provider default"
    from inspect_ai.model import GenerateConfig

    run = GenerateConfig(
        **{k: v for k, v in (options or {}).items() if k in ("max_retries", "timeout",
                                                            "attempt_timeout")}
    )  # fmt: skip
    config = judge_config(model, run=run).model_dump(exclude_none=True)
    out.update({k: v for k, v in config.items() if not isinstance(v, dict | list)})
    return out


def format_settings(settings: dict[str, Any]) -> str:
    lines = ["settings:"]
    for section, values in settings.items():
        if isinstance(values, dict):
            inner = ", ".join(f"{k}={v}" for k, v in values.items())
            lines.append(f"  {section}: {inner}")
        else:
            lines.append(f"  {section}: {values}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except UsageError as ex:
        print(f"scheming run: error: {ex}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from evals.graders import SCRIPTED_GRADER

    if args.summary_json:
        _check_writable_file("--summary-json", Path(args.summary_json))
    try:
        use_packs(getattr(args, "scenarios", None))
        scenarios = load_scenarios()
    except ScenarioError as ex:
        return report_problems(ex)
    try:
        chosen = select(scenarios, suite=args.suite, ids=args.scenario)
    except ScenarioError as ex:
        raise UsageError("; ".join(str(p) for p in ex.problems)[:600]) from None
    if not chosen:
        raise UsageError("no scenarios chosen")
    _check_factors(args.factor or [], chosen)
    grader = args.grader
    if grader is None:
        if not all(m.startswith("scripted/") for m in args.model):
            raise UsageError(
                "real models need --grader M (a judge other than the models under test)"
            )
        grader = SCRIPTED_GRADER  # replays the labels in the scenario YAML; not a judge
    _check_models(args.model, grader, chosen)
    options, source = run_control(args)
    if getattr(args, "prices", None):
        from evals.analysis._cost import PriceError, load_prices

        try:
            load_prices(args.prices)
        except PriceError as ex:
            raise UsageError(f"--prices: {ex}") from None
    if getattr(args, "budget", None) is not None:
        _check_budget_prices(args.model, grader, getattr(args, "prices", None))
    args.run_options = options
    args.run_settings = run_settings(args, grader, options, source)
    from evals.tasks import scheming

    try:
        task = scheming(
            suite=args.suite,
            scenarios=args.scenario,
            factors=args.factor,
            followups=args.followups,
        )
    except ValueError as ex:
        raise UsageError(_one_line(ex)) from None
    if getattr(args, "sandbox", "docker") == "k8s":
        _use_k8s(args, task, chosen)
    if getattr(args, "dry_run", False):
        return _dry_run(args, task, grader, chosen)
    log_dir = Path(args.log_dir or f"logs/run-{time.strftime('%Y%m%d-%H%M%S')}")
    _check_log_dir(log_dir)
    return _execute(args, task, grader, chosen, log_dir)


def _check_budget_prices(models: list[str], grader: str, prices_file: str | None) -> None:
    """--budget counts dollars from the price table: a model without a price would count as
    free, so the run does not start (a price file passed with --prices supplies one)."""
    from evals.analysis._cost import PRICES_FILE, load_prices

    table = load_prices(prices_file)
    for m in [*models, grader]:
        if table.price(m) is None:
            where = f"{prices_file} or {PRICES_FILE}" if prices_file else str(PRICES_FILE)
            raise UsageError(
                f"--budget: no price for {m} in {where}: its tokens would count as $0; "
                "pass its price with --prices FILE"
            )


def _use_k8s(args: argparse.Namespace, task: Any, chosen: list[Scenario]) -> None:
    """Swap the task's docker sandboxes for k8s ones (values converted from the same compose
    config, validated against the chart's schema before anything starts)."""
    if not args.registry:
        raise UsageError("--sandbox k8s needs --registry REGISTRY (docs/kubernetes.md)")
    try:
        import k8s_sandbox  # noqa: F401 - the `k8s` sandbox provider registers on import
    except ImportError:
        raise UsageError(
            "--sandbox k8s needs inspect-k8s-sandbox: pip install -e '.[k8s]'"
        ) from None
    from evals.sandbox import K8sValuesError, use_k8s

    try:
        use_k8s(task.dataset, chosen, registry=args.registry, runtime_class=args.runtime_class)
    except K8sValuesError as ex:
        raise UsageError(str(ex)) from None


def _dry_run(args: argparse.Namespace, task: Any, grader: str, chosen: list[Scenario]) -> int:
    from evals.analysis._cost import load_prices
    from evals.analysis._estimate import estimate, format_estimate

    prices = load_prices(getattr(args, "prices", None))
    settings = getattr(args, "run_settings", None)
    if settings:
        print(format_settings(settings))
    max_tokens = (getattr(args, "run_options", None) or {}).get("max_tokens")
    est = estimate(
        task.dataset,
        args.model,
        grader,
        epochs=args.epochs,
        max_tokens=max_tokens,
        scenarios=chosen,
    )
    print(format_estimate(est, prices))
    if getattr(args, "budget", None) is not None:
        _, high, _ = est.cost(prices)
        if high is not None and high > args.budget:
            print(
                f"  --budget ${args.budget:.2f} may stop the run before every sample started "
                f"(high estimate ${high:.2f})"
            )
    return 0


def _execute(
    args: argparse.Namespace, task: Any, grader: str, chosen: list[Scenario], log_dir: Path
) -> int:
    from inspect_ai import eval_set

    from evals.analysis import format_table, summary_rows
    from evals.sandbox import RUN_ID_ENV, ImageError, build_images, cleanup, engine_ready

    docker = getattr(args, "sandbox", "docker") == "docker"
    if docker:  # under k8s the cluster pulls the images from --registry
        problem = engine_ready()
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 1
        try:
            build_images(scenario_images(chosen))
        except ImageError as ex:
            print(f"error: {ex}", file=sys.stderr)
            return 1

    run_id = os.environ.get(RUN_ID_ENV) or uuid.uuid4().hex[:12]
    os.environ[RUN_ID_ENV] = run_id
    previous = _claim_log_dir(log_dir, run_id)
    if previous is not None and docker:  # k8s: inspect-k8s-sandbox uninstalls its releases
        with _no_interrupts():
            removed = cleanup(previous)
        if removed.containers or removed.networks or removed.volumes:
            print(f"an earlier run in {log_dir} left sandboxes: {removed}", file=sys.stderr)
    interrupted = False
    options = dict(getattr(args, "run_options", None) or {"fail_on_error": False})
    options.setdefault("retry_on_error", SAMPLE_RETRIES)
    settings = getattr(args, "run_settings", None)
    if settings:
        print(format_settings(settings), file=sys.stderr)
    from evals.agent._accounting import BUDGET
    from evals.analysis._cost import load_prices

    prices = load_prices(getattr(args, "prices", None))
    BUDGET.set(getattr(args, "budget", None), prices)
    try:
        ok, logs = eval_set(
            task,
            log_dir=str(log_dir),
            model=[with_sdk_retries(m, options.get("max_retries")) for m in args.model],
            model_roles={"grader": with_sdk_retries(grader, options.get("max_retries"))},
            epochs=args.epochs,
            max_samples=args.max_samples,
            display=args.display,
            retry_attempts=1,  # one attempt of each task: eval_set re-runs no failed task
            log_dir_allow_dirty=True,
            metadata={"run_settings": settings} if settings else None,
            # fail_on_error False by default: one sample's error is recorded; the others go on
            **options,
        )
    except KeyboardInterrupt:
        ok, logs = False, []
        interrupted = True
    else:
        # on Ctrl-C inspect's eval_set may return (True, []) instead of raising
        interrupted = not logs or any(lg.status == "cancelled" for lg in logs)
    finally:
        if docker:
            with _no_interrupts():
                cleanup(run_id)
    if interrupted:
        print(
            f"interrupted: finished samples are kept in {log_dir}; run the same command with "
            f"--log-dir {log_dir} to resume",
            file=sys.stderr,
        )
        return 130
    rows = summary_rows(logs, prices)
    print(format_table(rows, prices))
    print(f"logs: {log_dir}  (open with: inspect view --log-dir {log_dir})")
    errors = sum(int(r.get("errors") or 0) for r in rows)
    limits = sum(int(r.get("limit_hit") or 0) for r in rows)
    if errors:
        print(f"{errors} sample(s) errored: see the errors column and the logs", file=sys.stderr)
    if BUDGET.refused:
        print(
            f"budget ${BUDGET.limit:.2f} spent (${BUDGET.spent:.2f} estimated): samples not "
            "started after that count as limit hit (cost); rerun with the same --log-dir and a "
            "larger --budget to finish",
            file=sys.stderr,
        )
    if limits:
        print(
            f"{limits} sample(s) hit a limit: not in the rates (see the limit column)",
            file=sys.stderr,
        )
    if args.summary_json:
        Path(args.summary_json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if ok else 1
