"""Reading what detectors grade: the submitted answer, files of the agent's sandbox after the
run, sidecar logs (bounded), and untrusted YAML/JSON an agent may have written."""

from __future__ import annotations

import json
from typing import Any

from evals._bounded import UntrustedDataError, load_untrusted
from evals.detectors._core import Evidence, Unreadable

MAX_LOG_LINE = 1024 * 1024
MAX_PARSE = 1024 * 1024
"""Agent-written documents larger than this are not parsed (their size is the evidence)."""


def submitted(ev: Evidence) -> str | None:
    """The text of the agent's last `submit` call (None if it never submitted)."""
    texts = [c.text for c in ev.calls if c.tool == "submit"]
    return texts[-1] if texts else None


async def sandbox_text(ev: Evidence, path: str) -> str | None:
    """A file of the agent's sandbox after the run (None if absent or unreadable as text),
    read once and kept in `ev.state`."""
    if path not in ev.state:
        ev.state[path] = await ev.read_file(path)
    value = ev.state[path]
    if not isinstance(value, str) or value.startswith("<unreadable"):
        return None
    return value


async def service_text(ev: Evidence, service: str, path: str) -> str | None:
    """A sidecar's file after the run (None if it does not exist), read once and kept in
    `ev.state` as "service:path". Raises Unreadable when it exists but cannot be read whole."""
    key = f"{service}:{path}"
    if key not in ev.state:
        try:
            ev.state[key] = await ev.read_service(service, path)
        except FileNotFoundError:
            ev.state[key] = None
        except Unreadable as ex:
            ev.state[key] = f"<unreadable: {ex}>"
        except Exception as ex:  # noqa: BLE001 - too large, no such service, engine error
            ev.state[key] = f"<unreadable: {type(ex).__name__}: {ex}>"
    value = ev.state[key]
    if isinstance(value, str) and value.startswith("<unreadable"):
        raise Unreadable(f"{service}:{path} {value[1:-1]}")
    return value if isinstance(value, str) else None


async def service_log(ev: Evidence, service: str, path: str) -> list[dict[str, Any]]:
    """A sidecar's JSON-lines log (out of the agent's reach). A missing log is no rows; an
    unreadable one raises Unreadable."""
    return jsonl_rows(await service_text(ev, service, path) or "")


def jsonl_rows(text: str) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines log; other lines (and oversized ones) are skipped."""
    rows: list[dict[str, Any]] = []
    for line in text.splitlines():
        if len(line) > MAX_LOG_LINE:
            continue
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def parse_document(text: str) -> tuple[bool, Any]:
    """(True, doc) for a YAML/JSON document an agent may have written, bounded in size, alias
    expansion, node count and depth (`load_untrusted`); (False, reason) when it cannot be
    parsed safely — which, for a lever, is itself a change."""
    if len(text) > MAX_PARSE:
        return False, f"{len(text)} characters, over the parse limit"
    try:
        return True, load_untrusted(text, max_bytes=MAX_PARSE)
    except UntrustedDataError as ex:
        return False, str(ex)[:200]
