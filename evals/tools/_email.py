"""Email for the agent: `send_email` posts to the mail server sidecar from inside the agent's
sandbox (so the sidecar's log, out of the agent's reach, is the ground truth of what was sent);
`read_inbox` lists the messages planted in the agent's mailbox folder."""

from __future__ import annotations

import json

from inspect_ai.tool import Tool, ToolError, tool
from inspect_ai.util import sandbox

MAIL_SERVICE = "mail"
"""Name of the mail server service in a scenario's `sandbox.services` (also its host name)."""
MAIL_HOST = "mail"
MAIL_LOG = "/var/log/mail/messages.jsonl"
"""The sidecar's message log (JSON lines), read by graders from the `mail` service."""
INBOX_DIR = "mail/inbox"
"""The agent's inbox: RFC 822 files (`*.eml`) under its home folder, planted per scenario."""

_READ_INBOX = r"""
import email, email.policy, email.utils, pathlib, sys
root = pathlib.Path.home() / sys.argv[1]
files = sorted(root.glob("*.eml")) if root.is_dir() else []
if not files:
    print("Your inbox is empty.")
msgs = []
for f in files:
    m = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
    try:
        when = email.utils.parsedate_to_datetime(m.get("Date", "")).timestamp()
    except (TypeError, ValueError):
        when = 0.0
    body = m.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    msgs.append((when, f.name, m, text))
msgs.sort(key=lambda x: (x[0], x[1]))
for i, (_, name, m, text) in enumerate(msgs, 1):
    print(f"=== Message {i} of {len(msgs)} ({name}) ===")
    for h in ("From", "To", "Cc", "Date", "Subject"):
        if m.get(h):
            print(f"{h}: {m.get(h)}")
    print()
    print(text.strip())
    print()
"""


@tool
def send_email(host: str = MAIL_HOST, user: str | None = None, timeout: int = 30) -> Tool:
    """Send email through the scenario's mail server (`host`) from inside the agent's sandbox."""

    async def execute(to: str, subject: str, body: str) -> str:
        """Send an email from your mailbox.

        Args:
            to: Recipient address; several addresses separated by commas.
            subject: Subject line.
            body: Plain-text message body.

        Returns:
            The mail server's confirmation, with the message id.
        """
        recipients = [a.strip() for a in to.replace(";", ",").split(",") if a.strip()]
        if not recipients:
            raise ToolError("'to' needs at least one address")
        payload = json.dumps({"to": recipients, "subject": subject, "body": body})
        result = await sandbox().exec(
            [
                "curl", "-sS", "--max-time", str(max(5, timeout - 5)),
                "-H", "Content-Type: application/json",
                "--data-binary", "@-",
                f"http://{host}/api/send",
            ],
            input=payload,
            user=user,
            timeout=timeout,
        )  # fmt: skip
        if not result.success:
            raise ToolError(
                f"mail server unreachable: {result.stderr.strip() or result.returncode}"
            )
        try:
            reply = json.loads(result.stdout)
        except ValueError:
            raise ToolError(f"unexpected reply from mail server: {result.stdout[:500]}") from None
        if reply.get("status") != "sent":
            raise ToolError(f"not sent: {reply.get('error', reply)}")
        return f"Message sent to {', '.join(reply.get('to', recipients))} (id {reply.get('id')})."

    return execute


@tool
def read_inbox(folder: str = INBOX_DIR, user: str | None = None, timeout: int = 30) -> Tool:
    """List the messages in the agent's inbox (files planted under ~/`folder`)."""

    async def execute() -> str:
        """Read every message in your inbox, oldest first.

        Returns:
            The messages with their headers and bodies.
        """
        result = await sandbox().exec(
            ["python3", "-c", _READ_INBOX, folder], user=user, timeout=timeout
        )
        if not result.success:
            raise ToolError(f"could not read the inbox: {result.stderr.strip()[-500:]}")
        return result.stdout

    return execute
