from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem found in a scenario file: where it is and what is wrong."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        file = _printable(self.file, 300)
        where = f"{file}:{self.line}" if self.line else file
        message = _printable(self.message, 300)
        if self.field:
            return f"{where}: {_printable(self.field, 120)}: {message}"
        return f"{where}: {message}"


def _printable(text: str, limit: int) -> str:
    """One line, however hostile the text: control characters escaped, long text cut."""
    text = str(text)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ScenarioError(Exception):
    """A scenario (or suite) could not be loaded; `problems` says every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
