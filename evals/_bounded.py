"""Bounded parsing and reading of data that is not fully trusted.

Two kinds of input go through here: files an agent may have written in its sandbox (graders parse
them with `load_untrusted`), and scenario packs, which are semi-trusted (the loader reads their
prompt and planted files with `read_inside`). Every bound is checked before the expensive step:
size before reading, file type before opening, alias expansion and nesting while the YAML event
stream is scanned (before any node is built). A violation is one `UntrustedDataError`.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1_000_000
MAX_NODES = 100_000
MAX_DEPTH = 50

_SafeLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class UntrustedDataError(ValueError):
    """Input broke a bound or could not be parsed; `reason` says which, in one line."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        self.reason = reason
        self.line = line
        super().__init__(reason)


class _ScanLoader(_SafeLoader):
    """Its own class so that nothing registered on it touches yaml.SafeLoader. Builds only what
    JSON can hold: a timestamp or !!binary stays the text it was written as, a !!set is a list."""


def _as_text(loader: Any, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))


def _set_as_list(loader: Any, node: yaml.MappingNode) -> list[Any]:
    return [loader.construct_object(k) for k, _ in node.value]


_ScanLoader.add_constructor("tag:yaml.org,2002:timestamp", _as_text)
_ScanLoader.add_constructor("tag:yaml.org,2002:binary", _as_text)
_ScanLoader.add_constructor("tag:yaml.org,2002:set", _set_as_list)


def _line(event: Any) -> int | None:
    mark = getattr(event, "start_mark", None)
    return mark.line + 1 if mark is not None else None


def check_events(
    events: Iterable[yaml.Event], *, max_nodes: int, max_depth: int, max_chars: int
) -> None:
    """Raise UntrustedDataError if the document these events build would, with every alias
    expanded, have more than `max_nodes` nodes, more than `max_chars` characters of scalars, or
    nest deeper than `max_depth`; a recursive alias is an error too. Memory is bounded by the
    number of events, never by the expansion."""
    # per anchor: (nodes, chars, height) of the subtree it names, once complete
    done: dict[str, tuple[int, int, int]] = {}
    open_anchors: list[str | None] = []
    # per open collection: [nodes, chars, height of children]
    stack: list[list[int]] = [[0, 0, 0]]

    def add(nodes: int, chars: int, height: int, event: Any) -> None:
        top = stack[-1]
        top[0] += nodes
        top[1] += chars
        top[2] = max(top[2], height)
        depth = len(stack) - 1 + height
        if depth > max_depth:
            raise UntrustedDataError(f"nested deeper than {max_depth} levels", _line(event))
        if top[0] > max_nodes:
            raise UntrustedDataError(
                f"more than {max_nodes} nodes (aliases expanded)", _line(event)
            )
        if top[1] > max_chars:
            raise UntrustedDataError(
                f"more than {max_chars} characters of text (aliases expanded)", _line(event)
            )

    for event in events:
        if isinstance(event, yaml.ScalarEvent):
            size = (1, len(event.value), 1)
            if event.anchor is not None:
                done[event.anchor] = size
            add(*size, event)
        elif isinstance(event, yaml.AliasEvent):
            anchor = event.anchor
            if anchor in open_anchors:
                raise UntrustedDataError(f"recursive alias '*{anchor}'", _line(event))
            if anchor not in done:
                raise UntrustedDataError(f"undefined alias '*{anchor}'", _line(event))
            add(*done[anchor], event)
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(stack) > max_depth:
                raise UntrustedDataError(f"nested deeper than {max_depth} levels", _line(event))
            stack.append([0, 0, 0])
            open_anchors.append(event.anchor)
        elif isinstance(event, yaml.CollectionEndEvent):
            nodes, chars, height = stack.pop()
            anchor = open_anchors.pop()
            size = (nodes + 1, chars, height + 1)
            if anchor is not None:
                done[anchor] = size
            add(*size, event)
        elif isinstance(event, yaml.DocumentEndEvent):
            done.clear()  # anchors do not cross documents


def _text(data: str | bytes, max_bytes: int) -> str:
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        if len(raw) > max_bytes:
            raise UntrustedDataError(f"larger than {max_bytes} bytes")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UntrustedDataError("not UTF-8 text") from None
    if not isinstance(data, str):
        raise UntrustedDataError(f"expected text, got {type(data).__name__}")
    if len(data) > max_bytes or len(data.encode("utf-8", "surrogatepass")) > max_bytes:
        raise UntrustedDataError(f"larger than {max_bytes} bytes")
    return data


def _check_tree(data: Any, *, max_nodes: int, max_depth: int) -> None:
    """Count and depth of a parsed JSON value, without recursion."""
    todo: list[tuple[Any, int]] = [(data, 1)]
    nodes = 0
    while todo:
        value, depth = todo.pop()
        nodes += 1
        if nodes > max_nodes:
            raise UntrustedDataError(f"more than {max_nodes} nodes")
        if depth > max_depth:
            raise UntrustedDataError(f"nested deeper than {max_depth} levels")
        if isinstance(value, dict):
            todo.extend((v, depth + 1) for v in value.values())
            nodes += len(value)  # the keys
        elif isinstance(value, list):
            todo.extend((v, depth + 1) for v in value)


def compose_bounded(
    text: str, loader: type[Any], *, max_nodes: int, max_depth: int, max_chars: int
) -> tuple[yaml.Node | None, Any]:
    """(root node, data) of a single YAML document: the events are scanned within bounds
    first, then the document is built (aliases shared, never copied). Raises only
    UntrustedDataError, with the line where known."""
    try:
        check_events(
            yaml.parse(text, Loader=loader),
            max_nodes=max_nodes,
            max_depth=max_depth,
            max_chars=max_chars,
        )
        instance = loader(text)
        try:
            node = instance.get_single_node()
            data = instance.construct_document(node) if node is not None else None
        finally:
            instance.dispose()
        return node, data
    except UntrustedDataError:
        raise
    except yaml.MarkedYAMLError as ex:
        mark = ex.problem_mark or ex.context_mark
        what = ", ".join(x for x in (ex.context, ex.problem) if x) or "invalid YAML"
        syntax = isinstance(ex, yaml.scanner.ScannerError | yaml.parser.ParserError)
        kind = "YAML syntax error" if syntax else "YAML error"
        raise UntrustedDataError(
            f"{kind}: {one_line(what)}", mark.line + 1 if mark is not None else None
        ) from None
    except yaml.YAMLError as ex:
        raise UntrustedDataError(f"YAML error: {one_line(str(ex))}") from None
    except (ValueError, TypeError, OverflowError, RecursionError, MemoryError) as ex:
        # e.g. a 5000-digit integer, or 2024-02-31 read as a date
        raise UntrustedDataError(f"cannot build a value: {one_line(str(ex))}") from None


def one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def load_untrusted(
    text: str | bytes,
    *,
    max_bytes: int = MAX_BYTES,
    max_nodes: int = MAX_NODES,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """Parse YAML or JSON that an agent may have written, within bounds: at most `max_bytes`
    of input, `max_nodes` nodes with every alias expanded (a 352-byte alias bomb is refused
    after a few hundred events, before anything is built), `max_depth` levels of nesting.
    Returns what JSON can hold (dict, list, str, int, float, bool, None; a YAML timestamp or
    !!binary is its text, a !!set a list). Raises only UntrustedDataError."""
    s = _text(text, max_bytes)
    if s.lstrip()[:1] in ("{", "["):
        try:
            data = json.loads(s)
        except RecursionError:
            raise UntrustedDataError(f"nested deeper than {max_depth} levels") from None
        except ValueError:
            pass  # not JSON: it may still be YAML flow style
        else:
            _check_tree(data, max_nodes=max_nodes, max_depth=max_depth)
            return data
    return compose_bounded(
        s, _ScanLoader, max_nodes=max_nodes, max_depth=max_depth, max_chars=max_bytes
    )[1]


# ---------------------------------------------------------------- files inside a folder


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symlink"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def check_relative(rel: str) -> None:
    """A path a scenario names relative to its own folder: no absolute path, no '..', no
    empty, '.' or control-character parts."""
    if not rel:
        raise UntrustedDataError("empty path")
    if any(c in rel for c in "\0\n\r\\") or not rel.isprintable():
        raise UntrustedDataError(f"path {rel!r} has a control character or backslash")
    if rel.startswith("/") or rel.startswith("~"):
        raise UntrustedDataError(f"path '{rel}' is absolute; it must be inside the scenario folder")
    parts = rel.split("/")
    if ".." in parts:
        raise UntrustedDataError(f"path '{rel}' contains '..'; it must stay in the scenario folder")
    if any(p in ("", ".") for p in parts):
        raise UntrustedDataError(f"path '{rel}' has an empty or '.' part")


def regular_file_size(path: Path) -> int:
    """Size of `path`, which must be a regular file (checked with lstat: a symlink, FIFO,
    device or socket is refused without being opened)."""
    try:
        st = os.lstat(path)
    except OSError as ex:
        raise UntrustedDataError(f"cannot read file: {ex.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise UntrustedDataError(f"is {_kind(st.st_mode)}, not a regular file")
    return st.st_size


def read_capped(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes: type and size from lstat before
    opening, opened without following a symlink and without blocking, read with a cap (a file
    that grows meanwhile is still refused)."""
    size = regular_file_size(path)
    if size > limit:
        raise UntrustedDataError(f"file is {size} bytes, larger than the limit of {limit}")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as ex:
        if ex.errno == errno.ELOOP:
            raise UntrustedDataError("is a symlink, not a regular file") from None
        raise UntrustedDataError(f"cannot read file: {ex.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UntrustedDataError(f"is {_kind(st.st_mode)}, not a regular file")
        chunks: list[bytes] = []
        got = 0
        while got <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > limit:
            raise UntrustedDataError(f"file is larger than the limit of {limit} bytes")
        return b"".join(chunks)
    except OSError as ex:
        raise UntrustedDataError(f"cannot read file: {ex.strerror}") from None
    finally:
        os.close(fd)


def resolve_inside(base: Path, rel: str) -> Path:
    """`base/rel` after checking that it stays inside `base`: `rel` is relative with no '..',
    no part of it below `base` is a symlink, and the result is a regular file."""
    check_relative(rel)
    path = base
    parts = rel.split("/")
    for i, part in enumerate(parts):
        path = path / part
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            raise UntrustedDataError(f"no such file '{rel}'") from None
        except OSError as ex:
            raise UntrustedDataError(f"cannot read '{rel}': {ex.strerror}") from None
        if stat.S_ISLNK(st.st_mode):
            shown = "/".join(parts[: i + 1])
            raise UntrustedDataError(
                f"'{shown}' is a symlink; files of a scenario must be in its own folder"
            )
        if i < len(parts) - 1 and not stat.S_ISDIR(st.st_mode):
            raise UntrustedDataError(f"no such file '{rel}'")
        if i == len(parts) - 1 and not stat.S_ISREG(st.st_mode):
            raise UntrustedDataError(f"'{rel}' is {_kind(st.st_mode)}, not a regular file")
    real_base = os.path.realpath(base)
    real = os.path.realpath(path)
    if os.path.commonpath([real_base, real]) != real_base:
        raise UntrustedDataError(f"'{rel}' resolves outside the scenario folder")
    return path


def read_inside(base: Path, rel: str, limit: int) -> bytes:
    """The bytes of `base/rel`, a regular file inside `base` of at most `limit` bytes."""
    path = resolve_inside(base, rel)
    try:
        return read_capped(path, limit)
    except UntrustedDataError as ex:
        raise UntrustedDataError(f"'{rel}': {ex.reason}") from None
