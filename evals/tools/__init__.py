"""Agent-facing tools beyond inspect's bash/python: email through the mail server sidecar."""

from evals.tools._email import (
    INBOX_DIR,
    MAIL_HOST,
    MAIL_LOG,
    MAIL_SERVICE,
    read_inbox,
    send_email,
)

__all__ = ["INBOX_DIR", "MAIL_HOST", "MAIL_LOG", "MAIL_SERVICE", "read_inbox", "send_email"]
