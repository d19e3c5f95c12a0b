from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import NoReturn

# Each command lives in its own module with `register(subparsers)`; the parser it adds sets
# `func` to a callable taking the parsed namespace and returning an exit code.
_COMMANDS = [
    "evals.cli._setup",
    "evals.cli._validate",
    "evals.cli._list",
    "evals.cli._run",
    "evals.cli._cleanup",
    "evals.cli._report",
    "evals.cli._compare",
    "evals.cli._regrade",
    "evals.cli._calibrate",
]


class _Parser(argparse.ArgumentParser):
    """Bad arguments fail in one line (`scheming run: error: ...`), exit 2, no usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _terminate_like_ctrl_c(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (kill, CI cancellation, a container stop) takes the path of Ctrl-C: inspect stops
    # the samples, the run removes its containers and exits 130
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # SIGINT ignored since the process started (a background job of a non-interactive
        # shell, or a parent that ignored it): raising it would do nothing and the run would
        # go on to its end, so raise what Ctrl-C raises here; the run's cleanup still runs
        raise KeyboardInterrupt
    signal.raise_signal(signal.SIGINT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="scheming",
        description="Measure whether LLM agents scheme, in real Docker sandboxes.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as ex:
            if ex.name == name:
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _terminate_like_ctrl_c)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as ex:  # noqa: BLE001 - one clear line, not a traceback
        if os.environ.get("SCHEMING_DEBUG"):
            raise
        print(f"error: {type(ex).__name__}: {ex}", file=sys.stderr)
        print("(set SCHEMING_DEBUG=1 to see the traceback)", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
