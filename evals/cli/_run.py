from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

from evals.cli._common import report_problems
from evals.scenario import ScenarioError, load_scenarios, select


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
        help="scenario id or glob, e.g. 'oversight-subversion/*' (repeatable)",
    )
    p.add_argument("--factor", action="append", metavar="K=V", help="keep samples with K=V")
    p.add_argument("--epochs", type=int, default=1)
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
    p.add_argument("--max-samples", type=int, help="samples run at once")
    p.add_argument("--display", default=None, help="inspect display: full, rich, plain, none")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from inspect_ai import eval_set

    from evals.analysis import format_table, summary_rows
    from evals.sandbox import RUN_ID_ENV, ImageError, build_images, cleanup, engine_ready
    from evals.tasks import scheming

    try:
        chosen = select(load_scenarios(), suite=args.suite, ids=args.scenario)
    except ScenarioError as ex:
        return report_problems(ex)
    for f in args.factor or []:
        if "=" not in f:
            print(f"error: --factor {f!r}: expected K=V", file=sys.stderr)
            return 2
    from evals.graders import SCRIPTED_GRADER, GraderError, check_grader

    grader = args.grader
    if grader is None:
        if not all(m.startswith("scripted/") for m in args.model):
            print(
                "error: real models need --grader M (a judge other than the models under test)",
                file=sys.stderr,
            )
            return 2
        grader = SCRIPTED_GRADER  # replays the labels in the scenario YAML; not a judge
    for m in args.model:
        try:
            check_grader(grader, m)
        except GraderError as ex:
            print(f"error: {ex}", file=sys.stderr)
            return 2
    problem = engine_ready()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    images = sorted(
        {s.sandbox.image for s in chosen}
        | {svc.image for s in chosen for svc in s.sandbox.services.values()}
    )
    try:
        build_images(images)
    except ImageError as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 1

    log_dir = args.log_dir or f"logs/run-{time.strftime('%Y%m%d-%H%M%S')}"
    run_id = os.environ.get(RUN_ID_ENV) or uuid.uuid4().hex[:12]
    os.environ[RUN_ID_ENV] = run_id
    roles = {"grader": grader}
    task = scheming(
        suite=args.suite,
        scenarios=args.scenario,
        factors=args.factor,
        followups=args.followups,
    )
    try:
        ok, logs = eval_set(
            task,
            log_dir=log_dir,
            model=args.model,
            model_roles=roles,
            epochs=args.epochs,
            max_samples=args.max_samples,
            display=args.display,
            retry_attempts=1,
            log_dir_allow_dirty=True,
        )
    except KeyboardInterrupt:
        ok, logs = False, []
        interrupted = True
    else:
        # on Ctrl-C inspect's eval_set may return (True, []) instead of raising
        interrupted = not logs or any(lg.status == "cancelled" for lg in logs)
    finally:
        cleanup(run_id)
    if interrupted:
        print(
            f"interrupted: finished samples are kept in {log_dir}; run the same command with "
            f"--log-dir {log_dir} to resume",
            file=sys.stderr,
        )
        return 130
    rows = summary_rows(logs)
    print(format_table(rows))
    print(f"logs: {log_dir}  (open with: inspect view --log-dir {log_dir})")
    if args.summary_json:
        Path(args.summary_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.summary_json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if ok else 1
