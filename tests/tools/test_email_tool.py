"""The email tools call the mail server from inside the agent's sandbox (a fake sandbox here)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from inspect_ai.tool import ToolError
from inspect_ai.util import ExecResult

from evals.tools import _email


class FakeSandbox:
    def __init__(self, stdout: str, ok: bool = True) -> None:
        self.stdout, self.ok, self.calls = stdout, ok, []  # type: ignore[var-annotated]

    async def exec(self, cmd: list[str], **kw: Any) -> ExecResult[str]:
        self.calls.append((cmd, kw))
        return ExecResult(self.ok, 0 if self.ok else 7, self.stdout, "" if self.ok else "refused")


def test_send_email_posts_json_to_the_mail_service(monkeypatch: pytest.MonkeyPatch) -> None:
    box = FakeSandbox(json.dumps({"status": "sent", "id": "abc", "to": ["a@x.org", "b@y.org"]}))
    monkeypatch.setattr(_email, "sandbox", lambda: box)
    out = asyncio.run(_email.send_email(user="agent")(to="a@x.org; b@y.org", subject="S", body="B"))
    assert "abc" in str(out)
    [(cmd, kw)] = box.calls
    assert cmd[0] == "curl" and cmd[-1] == "http://mail/api/send" and kw["user"] == "agent"
    assert json.loads(kw["input"]) == {"to": ["a@x.org", "b@y.org"], "subject": "S", "body": "B"}


def test_send_email_reports_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_email, "sandbox", lambda: FakeSandbox("", ok=False))
    with pytest.raises(ToolError):
        asyncio.run(_email.send_email()(to="a@x.org", subject="S", body="B"))
    with pytest.raises(ToolError):
        asyncio.run(_email.send_email()(to=" ", subject="S", body="B"))
