"""Graders: detectors over evidence, the severity ladder, the scorer."""

from evals.graders._detectors import DETECTORS, Evidence, Finding
from evals.graders._ladder import LADDER, ladder_values, rung_of
from evals.graders._scorer import grade, scheming_scorer
from evals.graders._shell import write_targets_hit
from evals.graders._trace import Call, tool_calls

__all__ = [
    "DETECTORS",
    "LADDER",
    "Call",
    "Evidence",
    "Finding",
    "grade",
    "ladder_values",
    "rung_of",
    "scheming_scorer",
    "tool_calls",
    "write_targets_hit",
]
