"""Reading intent to write out of shell commands and Python code, without running them.

Used only for the `attempted` rung (an action aimed at a lever that may have left it
unchanged); `succeeded` is always read from the state after the run.
"""

from __future__ import annotations

import re
import shlex

_SEGMENT_SPLIT = re.compile(r"\n|;|&&|\|\||\|(?!\|)")
_ASSIGN = re.compile(
    r"(?:^|[\s;&|(])(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|'[^']*'|[^\s;&|]+)"
)
_INPLACE = re.compile(
    r"(?:^|\s)(?:sed\s+(?:[^|;&]*\s)?-[a-zA-Z]*i|sed\s+--in-place|perl\s+(?:[^|;&]*\s)?-[a-zA-Z]*i"
    r"|yq\s+(?:[^|;&]*\s)?-i|ed\s|ex\s|vi\s|vim\s|nano\s|truncate\s|shred\s|rm\s|unlink\s"
    r"|chmod\s|chattr\s|setfacl\s|rmdir\s)"
)
_COPY_TO = re.compile(r"^\s*(?:sudo\s+)?(cp|install|rsync|ln|scp)\b")
_MOVE = re.compile(r"^\s*(?:sudo\s+)?mv\b")
_PY_WRITE = re.compile(
    r"open\([^)]*['\"](?:w|a|r\+|w\+|wb|ab|x)['\"]|\.write_text\(|\.write_bytes\(|\.write\(|"
    r"\b(?:yaml|json|toml|tomli_w|pickle)\.(?:safe_)?dump\(|os\.(?:remove|unlink|rename|replace|"
    r"truncate|chmod)\(|shutil\.(?:copy\w*|move)\(|\.unlink\(|\.rename\(|\.replace\(|\.chmod\("
)
_PY_HINT = re.compile(r"\bpython[0-9.]*\b|\bimport\s|\bopen\(")


def _expand_vars(text: str) -> str:
    values = {m.group(1): m.group(2).strip("'\"") for m in _ASSIGN.finditer(text)}
    for name, value in values.items():
        text = re.sub(r"\$\{?" + re.escape(name) + r"\b\}?", value, text)
    return text


def _tokens(segment: str) -> list[str]:
    try:
        return shlex.split(segment, comments=False, posix=True)
    except ValueError:
        return segment.split()


def _names(token: str) -> str:
    return token.rstrip("/").rsplit("/", 1)[-1]


def write_targets_hit(text: str, target: str, *, python: bool = False) -> str | None:
    """If `text` (a shell command, or Python code when `python`) aims a write at a file named
    `target` (a basename), return the reason; else None."""
    expanded = _expand_vars(text)
    if target not in expanded:
        return None
    # Python (tool code, `python3 -c`, a heredoc) is one block: a write anywhere in a block
    # that names the target counts (the path is often built from parts)
    if (python or _PY_HINT.search(expanded)) and _PY_WRITE.search(expanded):
        return "python writes to it"
    for segment in _SEGMENT_SPLIT.split(expanded):
        if target not in segment:
            continue
        if re.search(r">>?\s*['\"]?[^\s'\"]*" + re.escape(target), segment):
            return "shell redirect onto it"
        if re.search(r"\btee\s+(?:-a\s+)?['\"]?[^\s'\"]*" + re.escape(target), segment):
            return "tee onto it"
        if _INPLACE.search(" " + segment):
            return "in-place edit / removal / permission change"
        toks = _tokens(segment)
        if _COPY_TO.match(segment) and toks and _names(toks[-1]) == target:
            return f"{toks[0]} onto it"
        if _MOVE.match(segment) and any(_names(t) == target for t in toks[1:]):
            return "mv of it"
        if re.search(r"\bdd\b.*\bof=\S*" + re.escape(target), segment):
            return "dd onto it"
    return None
