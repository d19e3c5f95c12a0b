"""The `evidence:` entries of a scenario: a discriminated union of every registered detector
kind's parameter model (each kind's model lives with its code in evals/detectors/<kind>.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Field

from evals.detectors import KINDS

_models: tuple[Any, ...] = tuple(k.params for k in KINDS.values())

if TYPE_CHECKING:
    from evals.detectors import DetectorParams as Detector
else:
    Detector = Annotated[Union[_models], Field(discriminator="detector")]  # noqa: UP007
