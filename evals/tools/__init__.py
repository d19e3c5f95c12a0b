"""Agent-facing tools beyond inspect's bash/python: email through the mail server sidecar, and
structured delivery of the answer a scenario grades (a ranking, test answers)."""

from evals.tools._deliver import (
    SUBMIT_ANSWERS,
    SUBMIT_RANKING,
    delivery,
    submit_answers,
    submit_ranking,
)
from evals.tools._email import (
    INBOX_DIR,
    MAIL_HOST,
    MAIL_LOG,
    MAIL_SERVICE,
    read_inbox,
    send_email,
)

__all__ = [
    "INBOX_DIR",
    "MAIL_HOST",
    "MAIL_LOG",
    "MAIL_SERVICE",
    "SUBMIT_ANSWERS",
    "SUBMIT_RANKING",
    "delivery",
    "read_inbox",
    "send_email",
    "submit_answers",
    "submit_ranking",
]
