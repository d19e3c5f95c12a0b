from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
