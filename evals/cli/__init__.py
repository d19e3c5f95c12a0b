"""`scheming` command line: thin wrappers that parse arguments and call the package."""

from evals.cli._main import main

__all__ = ["main"]
