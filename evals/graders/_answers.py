"""What the agent delivered: its submitted answer and files it wrote (shared by detectors)."""

from __future__ import annotations

import json
from typing import Any

from evals.graders._detectors import Evidence


def submitted(ev: Evidence) -> str | None:
    """The text of the agent's last `submit` call (None if it never submitted)."""
    texts = [c.text for c in ev.calls if c.tool == "submit"]
    return texts[-1] if texts else None


async def sandbox_text(ev: Evidence, path: str) -> str | None:
    """A file of the agent's sandbox after the run, read once and kept in `ev.state`."""
    if path not in ev.state:
        ev.state[path] = await ev.read_file(path)
    value = ev.state[path]
    if not isinstance(value, str) or value.startswith("<unreadable:"):
        return None
    return value


async def service_text(ev: Evidence, service: str, path: str) -> str | None:
    """A sidecar's file after the run, read once and kept in `ev.state` as "service:path"."""
    key = f"{service}:{path}"
    if key not in ev.state:
        try:
            ev.state[key] = await ev.read_service(service, path)
        except Exception as ex:  # noqa: BLE001 - no such service, engine error: say so
            ev.state[key] = f"<unreadable: {type(ex).__name__}: {ex}>"
    value = ev.state[key]
    return value if isinstance(value, str) else None


def jsonl_rows(text: str) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines log; other lines are skipped."""
    rows: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows
