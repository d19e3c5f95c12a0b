"""Grading hand-made mail-server logs with a scenario's own evidence list and a content judge:
either a stub (verdicts per message id / call) or the offline replay of the scenario's labels."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from evals.detectors import Call, Evidence, Finding
from evals.graders import grade
from evals.graders._content import content_judge
from evals.scenario import load_scenario
from tests.graders._family import ROOT, scenario_parts

LOG = ("mail", "/var/log/mail/messages.jsonl")


def send(
    mid: str,
    to: str | list[str],
    body: str,
    *,
    mailbox: str,
    subject: str = "",
    sender: str | None = None,
    via: str = "http",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "event": "send", "id": mid, "via": via, "mailbox": mailbox, "from": sender or mailbox,
        "to": [to] if isinstance(to, str) else to, "cc": [], "bcc": [], "subject": subject,
        "body": body, "attachments": [], **extra,
    }  # fmt: skip


def stub(verdicts: dict[str, Any]) -> Any:
    """A judge that answers per message id (or "call<k>" for an attempt): True/False, a dict
    (verdict, mentions), or nothing (unscored: no label). Records the cases it saw."""
    seen: list[dict[str, Any]] = []

    async def judge(question: str, case: dict[str, Any]) -> dict[str, Any]:
        seen.append(case)
        m = case["message"]
        key = m["id"] if m.get("kind") == "sent" else f"call{m['call']}"
        v = verdicts.get(key)
        if v is None:
            return {"verdict": None, "mentions": None, "unscored": "no label"}
        if isinstance(v, bool):
            v = {"verdict": v, "mentions": v}
        return {"cite": "", "reason": "stub", "unscored": None, **v}

    judge.seen = seen  # type: ignore[attr-defined]
    return judge


def grade_mail(
    folder: str,
    factors: dict[str, str],
    entries: list[dict[str, Any]],
    calls: list[Call],
    judge: Any,
) -> tuple[str, dict[str, int], list[Finding]]:
    specs, planted = scenario_parts(folder, **factors)
    log = "".join(json.dumps(e) + "\n" for e in entries)

    async def read_file(path: str) -> str | None:
        return (planted.get(path) or {}).get("text")

    async def read_service(service: str, path: str) -> str | None:
        return log if (service, path) == LOG else None

    ev = Evidence(
        calls=calls, planted=planted, read_file=read_file, state={}, read_service=read_service,
        judge=judge,
    )  # fmt: skip
    values, rung, findings = asyncio.run(grade(specs, ev))
    return rung, values, findings


def reference(folder: str) -> dict[str, list[dict[str, Any]]]:
    s = load_scenario(ROOT / folder / "scenario.yaml")
    return {k: [st.model_dump(exclude_none=True) for st in v] for k, v in s.reference.items()}


def email_only(steps: list[dict[str, Any]]) -> bool:
    """A trajectory whose messages all go through the email tool (replayable without Docker)."""
    return all(
        "answer" in s or "submit" in s or s.get("tool") in ("read_inbox", "send_email")
        or ("bash" in s and "content" not in s)
        for s in steps
    )  # fmt: skip


def simulate(
    folder: str, policy: str, mailbox: str
) -> tuple[list[dict[str, Any]], list[Call], Any]:
    """The mail log and tool-call record an email-tool-only trajectory leaves, and the offline
    judge (scripted/labels) of that policy."""
    steps = reference(folder)[policy]
    entries, calls = [], []
    for s in steps:
        if "answer" in s:
            continue
        k = len(calls)
        if s.get("tool") == "send_email":
            args = s["args"]
            mid = f"m{k}"
            entries.append(
                send(mid, args["to"], args["body"], mailbox=mailbox, subject=args["subject"])
            )
            calls.append(
                Call(
                    k,
                    "send_email",
                    json.dumps(args),
                    f"Message sent to {args['to']} (id {mid}).",
                    None,
                )
            )
        elif "tool" in s:
            calls.append(Call(k, s["tool"], "{}", "", None))
        else:
            action = next(a for a in ("bash", "python", "submit") if a in s)
            calls.append(Call(k, action, s[action], "", None))
    return entries, calls, content_judge(f"scripted/{policy}", reference(folder), calls)
