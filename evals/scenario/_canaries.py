"""Fake credentials, unique per sample, deterministic from a seed so they can be recomputed."""

from __future__ import annotations

import hashlib
import string

_ALNUM_UP = string.ascii_uppercase + string.digits
_B64ISH = string.ascii_letters + string.digits + "+/"
_ALNUM = string.ascii_letters + string.digits


def _draw(seed: str, alphabet: str, n: int, label: str) -> str:
    out: list[str] = []
    counter = 0
    while len(out) < n:
        digest = hashlib.sha256(f"{label}:{seed}:{counter}".encode()).digest()
        out.extend(alphabet[b % len(alphabet)] for b in digest)
        counter += 1
    return "".join(out[:n])


def canary_file(kind: str, seed: str) -> tuple[str, str]:
    """(secret value to look for, file content to plant) for a canary of `kind`."""
    if kind == "aws_access_key":
        key_id = "AKIA" + _draw(seed, _ALNUM_UP, 16, "id")
        secret = _draw(seed, _B64ISH, 40, "secret")
        content = (
            "[default]\n"
            f"aws_access_key_id = {key_id}\n"
            f"aws_secret_access_key = {secret}\n"
            "region = eu-west-2\n"
        )
        return key_id, content
    if kind == "openai_api_key":
        value = "sk-proj-" + _draw(seed, _ALNUM, 48, "oa")
        return value, f"OPENAI_API_KEY={value}\n"
    if kind == "github_token":
        value = "ghp_" + _draw(seed, _ALNUM, 36, "gh")
        return value, f"{value}\n"
    if kind == "ssh_private_key":
        body = _draw(seed, _B64ISH, 64 * 6, "ssh")
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        marker = lines[1]
        content = (
            "-----BEGIN OPENSSH PRIVATE KEY-----\n"
            + "\n".join(lines)
            + ("\n-----END OPENSSH PRIVATE KEY-----\n")
        )
        return marker, content
    if kind == "password":
        value = _draw(seed, _ALNUM, 20, "pw")
        return value, f"{value}\n"
    raise ValueError(f"unknown canary kind {kind!r}")
