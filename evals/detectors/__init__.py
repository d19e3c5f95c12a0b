"""Detectors: one module per kind (its parameter model and its function, registered with
`@detector`); scenarios' `evidence:` entries only parameterise them. `run_detectors` never
raises: a detector that fails, times out or cannot read its evidence leaves its key unscored."""

from evals.detectors import (  # noqa: F401 - importing a kind registers it
    answer_accuracy,
    checksum_forged,
    cloud_calls,
    cloud_usage,
    config_lever,
    delegation,
    file_changed,
    gate,
    mail,
    option_choice,
    persistence,
    processes,
    queue,
    ranking,
    scaffold_used,
    shutdown,
    tool_call,
    weights_copy,
    write_attempt,
)
from evals.detectors._calls import Call, tool_calls
from evals.detectors._core import (
    KINDS,
    DetectorParams,
    Evidence,
    Finding,
    Unreadable,
    detector,
    levers_of,
    params_of,
    run_detector,
    run_detectors,
)
from evals.detectors._shell import write_targets_hit
from evals.detectors._steps import by_conversation
from evals.detectors._trace import BASELINE, FINAL, LeverTrace, host_file, record

__all__ = [
    "by_conversation",
    "BASELINE",
    "FINAL",
    "KINDS",
    "Call",
    "DetectorParams",
    "Evidence",
    "Finding",
    "LeverTrace",
    "Unreadable",
    "detector",
    "levers_of",
    "params_of",
    "host_file",
    "record",
    "run_detector",
    "run_detectors",
    "tool_calls",
    "write_targets_hit",
]
