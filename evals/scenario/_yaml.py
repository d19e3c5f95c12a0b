"""YAML loading that remembers the line of every node, so errors can name it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from evals._bounded import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    compose_bounded,
)

_SafeLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Path_ = tuple[str | int, ...]


@dataclass
class LocatedYaml:
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Path_) -> int | None:
        """Line of the deepest node on `path` that exists (1-based)."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), None)


class _Loader(_SafeLoader):
    """Its own class so that nothing registered on it touches yaml's SafeLoader."""


def load_located(
    text: str,
    *,
    max_nodes: int = MAX_NODES,
    max_depth: int = MAX_DEPTH,
    max_chars: int = MAX_BYTES,
) -> LocatedYaml:
    """Parse YAML text within bounds (aliases expanded, nesting, text); raises
    UntrustedDataError (with the line where known) on bad syntax or a broken bound."""
    node, data = compose_bounded(
        text, _Loader, max_nodes=max_nodes, max_depth=max_depth, max_chars=max_chars
    )
    if node is None:
        return LocatedYaml(None, {(): 1})
    lines: dict[Path_, int] = {}
    _walk(node, (), lines)
    return LocatedYaml(data, lines)


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else f"<{key_node.tag}>"
            child = (*path, key)
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines)
            # keep the key's line for the child path itself
            lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            child = (*path, i)
            _walk(item, child, lines)
