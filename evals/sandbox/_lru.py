"""Bounded maps of per-container facts (an init's pid, a refusal): the most recent kept."""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

SIZE = 1024
"""Containers remembered at most (a run's samples come and go; old ones are dropped first)."""
_V = TypeVar("_V")


def remember(cache: OrderedDict[str, _V], key: str, value: _V) -> None:
    """Set `key`, as the most recent; drop the oldest beyond `SIZE`."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > SIZE:
        cache.popitem(last=False)
