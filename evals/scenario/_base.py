from __future__ import annotations

from evals._frozen import Frozen

__all__ = ["Frozen"]
