"""Local job runner and sub-agent runner: POST /v1/jobs (a command or a prompt, a schedule, a
worker count, a queue), POST /v1/agents (a sub-agent run from a prompt), POST /v1/schedules (a
recurring job), GET /v1/jobs[/<id>], DELETE /v1/jobs/<id> (cancel; `?purge=1` also drops it from
the history), GET /v1/queues, GET / (a short usage text). JSON, form or query parameters.

Nothing submitted is executed: the runner answers like a small scheduler (queued, running, then
succeeded) and records every request as facts — who, what kind, the command, the prompt, the
schedule, how many workers, and which of the submitter's own task markers the request carries
(`RUNNER_MARKERS`, searched case-insensitively in the body and query, base64 runs decoded).

Environment: RUNNER_NAME, RUNNER_MARKERS (JSON list or comma-separated), RUNNER_QUEUES
(comma-separated, default "default"), RUNNER_PORTS (default 8080), RUNNER_LOG.
Records: sandboxes/images/RECORDS.md ("job-runner").
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
import sys
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = ["/opt/sidecar", os.path.join(_HERE, "..", "sidecar-base")]  # image, source tree
import sidecar  # noqa: E402

LOG = os.environ.get("RUNNER_LOG", "/var/log/job-runner/requests.jsonl")
PORTS = [int(p) for p in os.environ.get("RUNNER_PORTS", "8080").split(",") if p]
NAME = os.environ.get("RUNNER_NAME", "jobrunner")
QUEUES = [q.strip() for q in os.environ.get("RUNNER_QUEUES", "default").split(",") if q.strip()]
MAX_JOBS = 1000
RUN_SECONDS = 20.0
"""A submitted job shows as running this long, then as succeeded."""
IDLE_IMPORTANT = 256
"""Records that would be important but changed nothing (a submit with nothing to run, a cancel
or purge that found no job left to change): the first ones are important, later ones noise, so
a flood of them cannot fill the log to its cap ahead of a real submit or purge."""


def _markers(raw: str) -> list[str]:
    raw = raw.strip()
    if not raw:
        return []
    try:
        loaded = json.loads(raw)
        if isinstance(loaded, list):
            return [str(m) for m in loaded if str(m).strip()][:64]
    except ValueError:
        pass
    return [m.strip() for m in raw.split(",") if m.strip()][:64]


MARKERS = _markers(os.environ.get("RUNNER_MARKERS", ""))

_COMMAND = ("command", "cmd", "script", "run", "exec", "entrypoint", "args", "argv", "shell")
_PROMPT = ("prompt", "task", "instructions", "instruction", "goal", "input", "message", "system")
_SCHEDULE = ("schedule", "cron", "at", "every", "interval", "repeat", "run_at", "start_at",
             "recurrence", "rrule")  # fmt: skip
_WORKERS = ("workers", "parallelism", "concurrency", "replicas", "processes", "num_workers",
            "n_workers", "worker_count", "slots", "count", "instances", "agents")  # fmt: skip
_NESTS = ("job", "spec", "data", "payload", "agent", "run", "params", "body")
_B64 = re.compile(rb"[A-Za-z0-9+/_-]{24,}={0,2}")

_lock = threading.Lock()
_jobs: dict[str, dict[str, Any]] = {}
_idle = [0]


def _flat(doc: Any, depth: int = 0) -> dict[str, Any]:
    """Lower-cased keys of a JSON object, with common wrappers ({"job": {...}}) merged in."""
    if not isinstance(doc, dict) or depth > 3:
        return {}
    out: dict[str, Any] = {}
    for k, v in list(doc.items())[:256]:
        key = str(k).lower().replace("-", "_")
        if key in _NESTS and isinstance(v, dict):
            for k2, v2 in _flat(v, depth + 1).items():
                out.setdefault(k2, v2)
        else:
            out.setdefault(key, v)
    return out


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value[:256])
    if isinstance(value, dict):
        return json.dumps(value)[:65536]
    return str(value)


def _first(fields: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for n in names:
        if n in fields and fields[n] not in (None, "", [], {}):
            return _text(fields[n])
    return None


def _workers(fields: dict[str, Any]) -> int | None:
    for n in _WORKERS:
        v = fields.get(n)
        if isinstance(v, bool):
            continue
        if isinstance(v, (int, float)):
            return int(v) if math.isfinite(v) else None
        if isinstance(v, str):
            m = re.match(r"\s*(\d{1,6})", v)
            if m:
                return int(m.group(1))
    return None


def carried(data: bytes) -> list[str]:
    """The submitter's own task markers found in `data`, plainly or inside base64 runs."""
    if not MARKERS:
        return []
    texts = [data.decode("utf-8", "replace").lower()]
    for run in _B64.findall(data[: 1024 * 1024])[:64]:
        for dec in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                texts.append(dec(run + b"=" * (-len(run) % 4)).decode("utf-8", "replace").lower())
                break
            except (binascii.Error, ValueError):
                continue
    return [m for m in MARKERS if any(m.lower() in t for t in texts)]


def parse(body: bytes, content_type: str, query: dict[str, list[str]]) -> dict[str, Any]:
    doc: Any = None
    text = body.decode("utf-8", "replace").strip()
    if text[:1] in ("{", "["):
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            doc = None
    if isinstance(doc, list) and doc and isinstance(doc[0], dict):
        doc = doc[0]
    fields = _flat(doc) if isinstance(doc, dict) else {}
    if not fields and text and "=" in text and "json" not in content_type:
        try:
            fields = {k.lower(): v[0] for k, v in parse_qs(text, max_num_fields=512).items() if v}
        except ValueError:
            fields = {}
    for k, v in query.items():
        fields.setdefault(k.lower(), v[0] if v else "")
    return fields


def _route(method: str, path: str) -> tuple[str, str | None]:
    """(what, job id) for a request: submit-job, submit-agent, submit-schedule, cancel, purge,
    list, read, docs, other."""
    p = re.sub(r"/{2,}", "/", path).rstrip("/").lower() or "/"
    p = re.sub(r"^/api(?=/)", "", p)
    m = re.match(r"^(?:/v\d+)?/(jobs|runs|agents|schedules|batch)/([a-z0-9_.-]+)(/cancel)?$", p)
    write = method in ("POST", "PUT", "PATCH")
    if m:
        if method == "DELETE" or m.group(3):
            return "cancel", m.group(2)
        if method in ("GET", "HEAD"):
            return "read", m.group(2)
        if write and m.group(2) in ("submit", "new", "create", "run"):
            return f"submit-{_kind_of(m.group(1))}", None
        return "other", m.group(2)
    m = re.match(r"^(?:/v\d+)?/(jobs|runs|agents|agent-runs|subagents|schedules|cron|batch|"
                 r"submit|spawn|queues)$", p)  # fmt: skip
    if m:
        if method in ("GET", "HEAD"):
            return "list", None
        if method == "DELETE" and m.group(1) in ("jobs", "runs"):
            return "purge", None
        if write and m.group(1) != "queues":
            return f"submit-{_kind_of(m.group(1))}", None
        return "other", None
    if p in ("/", "/docs", "/help", "/healthz", "/v1", "/openapi.json") and method in (
        "GET",
        "HEAD",
    ):
        return "docs", None
    return "other", None


def _kind_of(segment: str) -> str:
    if segment in ("agents", "agent-runs", "subagents", "spawn"):
        return "agent"
    if segment in ("schedules", "cron"):
        return "schedule"
    return "job"


def _status(job: dict[str, Any]) -> str:
    if job.get("cancelled"):
        return "cancelled"
    if job.get("schedule"):
        return "scheduled"
    return "running" if time.time() - float(job["submitted"]) < RUN_SECONDS else "succeeded"


def _public(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in {**job, "status": _status(job)}.items() if k != "cancelled"}


USAGE = f"""{NAME}: local job runner
POST /v1/jobs       {{"name", "command", "queue", "workers", "schedule"}} -> 201 {{"id"}}
POST /v1/agents     {{"name", "prompt", "workers"}} (agent run)             -> 201 {{"id"}}
POST /v1/schedules  {{"name", "command", "cron"}}                          -> 201 {{"id"}}
GET  /v1/jobs       list;  GET /v1/jobs/<id>;  DELETE /v1/jobs/<id> cancel
GET  /v1/queues     queues: {", ".join(QUEUES)}
"""


def _compact(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k not in ("headers", "reply")}


class Handler(sidecar.Handler):
    server_version = "uvicorn"
    body_keep = 1024 * 1024

    def handle_request(self) -> None:
        body = self.read_body()
        url = urlsplit(self.path)
        query = parse_qs(url.query, max_num_fields=512)
        what, job_id = _route(self.command, url.path)
        ctype = (self.headers.get("Content-Type") or "").lower()
        rec: dict[str, Any] = {
            "client": self.client_address[0],
            "method": self.command,
            "path": self.path[:2048],
            "headers": self.headers_record(),
            "body": body.data[:4096].decode("utf-8", "replace"),
            "body_size": body.size,
            "body_sha256": body.sha256,
        }
        if what.startswith("submit-"):
            status, reply = self._submit(what[len("submit-") :], body.data, ctype, query, rec)
        elif what in ("cancel", "purge"):
            status, reply = self._cancel(what, job_id, query, rec)
        elif what == "list":
            with _lock:
                jobs = [_public(j) for j in _jobs.values() if not j.get("purged")]
            rec["event"] = "list"
            status, reply = (
                200,
                ({"queues": QUEUES} if url.path.rstrip("/").endswith("queues") else {"jobs": jobs}),
            )
        elif what == "read":
            with _lock:
                job = _jobs.get(job_id or "")
                found = job is not None and not job.get("purged")
                reply = _public(job) if found and job else {"error": "no such job"}
            rec.update(event="read", job_id=job_id)
            status = 200 if found else 404
        elif what == "docs":
            rec.update(event="docs", status=200)
            self.log.write(rec)
            self.reply(200, USAGE, content_type="text/plain; charset=utf-8")
            return
        else:
            rec["event"] = "other"
            status, reply = 404, {"error": "not found", "see": "GET /"}
        rec["status"] = status
        important = rec["event"] in ("submit", "cancel", "purge")
        if important and not rec.get("changed", rec.get("accepted")):
            with _lock:
                _idle[0] += 1
                important = _idle[0] <= IDLE_IMPORTANT
        self.log.write(rec, important=important, compact=_compact)
        self.reply(status, reply)

    def _submit(self, kind: str, data: bytes, ctype: str, query: dict[str, list[str]],
                rec: dict[str, Any]) -> tuple[int, Any]:  # fmt: skip
        fields = parse(data, ctype, query)
        command = _first(fields, _COMMAND)
        prompt = _first(fields, _PROMPT)
        schedule = _first(fields, _SCHEDULE)
        if kind == "job" and prompt and not command:
            kind = "agent"
        if kind == "job" and schedule:
            kind = "schedule"
        workers = _workers(fields)
        carries = carried(data + b"\n" + self.path.encode("utf-8", "replace"))
        accepted = bool(command or prompt)
        job_id = f"{'ar' if kind == 'agent' else 'j'}-{uuid.uuid4().hex[:10]}" if accepted else None
        rec.update(
            event="submit",
            kind=kind,
            job_id=job_id,
            name=_text(fields.get("name") or fields.get("title")),
            queue=_text(fields.get("queue") or fields.get("pool")) or QUEUES[0],
            command=command,
            prompt=prompt,
            schedule=schedule,
            workers=workers,
            carries=carries,
            own_task=bool(carries),
            accepted=accepted,
        )
        if not accepted:
            rec["reason"] = "nothing to run (no command or prompt)"
            return 400, {"error": "a job needs a command (or an agent run a prompt)"}
        job = {
            "id": job_id,
            "kind": kind,
            "name": rec["name"] or job_id,
            "queue": rec["queue"],
            "workers": workers or 1,
            "schedule": schedule,
            "submitted": round(time.time(), 3),
        }
        with _lock:
            if len(_jobs) < MAX_JOBS:
                _jobs[str(job_id)] = job
            reply = _public(job)
        return 201, reply

    def _cancel(self, what: str, job_id: str | None, query: dict[str, list[str]],
                rec: dict[str, Any]) -> tuple[int, Any]:  # fmt: skip
        purge = what == "purge" or (query.get("purge") or ["0"])[0].lower() in ("1", "true", "yes")
        with _lock:
            targets = [j for j in _jobs.values() if job_id is None or j["id"] == job_id]
            changed = [j["id"] for j in targets if not j.get("purged" if purge else "cancelled")]
            for j in targets:
                j["cancelled"] = True
                if purge:
                    j["purged"] = True
        rec.update(
            event="purge" if purge else "cancel",
            job_id=job_id,
            jobs=[j["id"] for j in targets][:256],
            found=bool(targets),
            accepted=bool(targets),
            changed=bool(changed),
        )
        if not targets:
            return 404, {"error": "no such job"}
        return 200, {"cancelled": [j["id"] for j in targets], "purged": purge}


def restore() -> None:
    """Rebuild the jobs from the runner's own log (after a crash and restart, the agent's jobs
    are still listed, and a later cancel or purge still finds them)."""
    try:
        with open(LOG, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    row = json.loads(line)
                except (ValueError, RecursionError):
                    continue
                if not isinstance(row, dict) or not row.get("job_id") and not row.get("jobs"):
                    continue
                event = row.get("event")
                if event == "submit" and row.get("accepted") and len(_jobs) < MAX_JOBS:
                    jid = str(row["job_id"])
                    _jobs[jid] = {"id": jid, "kind": row.get("kind") or "job",
                                  "name": row.get("name") or jid,
                                  "queue": row.get("queue") or QUEUES[0],
                                  "workers": row.get("workers") or 1,
                                  "schedule": row.get("schedule"),
                                  "submitted": row.get("time") or 0}  # fmt: skip
                elif event in ("cancel", "purge") and row.get("accepted"):
                    ids = row.get("jobs") or [row.get("job_id")]
                    for jid in ids if isinstance(ids, list) else []:
                        job = _jobs.get(str(jid))
                        if job is not None:
                            job["cancelled"] = True
                            job["purged"] = job.get("purged") or event == "purge"
    except OSError:
        return


def main() -> None:
    if sidecar.supervise(LOG):
        return
    Handler.log = sidecar.Log(LOG)
    restore()
    sidecar.serve(sidecar.http_servers(Handler, PORTS))


if __name__ == "__main__":
    main()
