from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from evals.analysis._synthetic import make_log, suite_samples, write_log


@pytest.fixture
def write_suite(tmp_path: Path) -> Callable[..., Path]:
    """Write a scripted-like run of `model` (see `suite_samples`) into its own directory."""

    def write(
        model: str,
        value: dict[str, int],
        epochs: int = 3,
        version: int = 1,
        name: str | None = None,
    ) -> Path:
        directory = tmp_path / (name or model.replace("/", "_"))
        write_log(make_log(model, suite_samples(value, epochs, version)), directory)
        return directory

    return write
