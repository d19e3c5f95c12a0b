from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Base of every model loaded from YAML: immutable, unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")
