"""The image's content of the agent's home is read once per image and process, and kept only
once it reads back as a whole tar archive: a `docker run` that exits 0 with something else (a
full suite saw one, and every later sample of that process failed its setup) is read again."""

from __future__ import annotations

import asyncio
import base64
import io
import tarfile
from typing import Any

import pytest
from inspect_ai.util import ExecResult

from evals.sandbox import _docker_exec
from evals.sandbox._labels import SEED_KEY


def _tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as archive:
        info = tarfile.TarInfo("home/agent/.profile")
        body = b"export PS1='$ '\n" * 400
        info.size = len(body)
        archive.addfile(info, io.BytesIO(body))
    return buf.getvalue()


class _Docker:
    """`subprocess` for `docker run … tar -c`: answers from `outputs` in turn, counting calls."""

    def __init__(self, outputs: list[bytes]) -> None:
        self.outputs, self.calls = outputs, 0

    async def __call__(self, args: list[str], **_: Any) -> ExecResult[bytes]:
        assert args[:2] == ["docker", "run"], args
        self.calls += 1
        await asyncio.sleep(0.05)  # the samples that start together overlap it
        out = self.outputs[min(self.calls, len(self.outputs)) - 1]
        return ExecResult(success=True, returncode=0, stdout=out, stderr=b"")


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_docker_exec, "_seeds", {})


SPEC = {"image": "scheming-evals/workstation:test", SEED_KEY: ["/home/agent"]}
GOOD = _tar()


async def _together(n: int) -> list[str]:
    return list(await asyncio.gather(*[_docker_exec._seed(dict(SPEC)) for _ in range(n)]))


@pytest.mark.parametrize(
    "bad",
    [GOOD[100:], GOOD[: len(GOOD) // 2], b"", b"\x00" * 1024, b"Error: not a tar\n"],
    ids=["head-cut", "tail-cut", "empty", "zeros", "text"],
)
def test_a_bad_read_is_read_again_and_never_kept(
    fresh: None, monkeypatch: pytest.MonkeyPatch, bad: bytes
) -> None:
    docker = _Docker([bad, GOOD])
    monkeypatch.setattr(_docker_exec, "subprocess", docker)
    steps = asyncio.run(_together(10))
    assert docker.calls == 2  # ten samples at once: one read, and one again
    assert len(set(steps)) == 1
    assert base64.b64encode(GOOD).decode("ascii") in steps[0]
    assert asyncio.run(_together(3)) == steps[:3]  # kept: no read in a later eval's loop
    assert docker.calls == 2


def test_no_archive_in_every_try_errors_the_sample_naming_the_image(
    fresh: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    docker = _Docker([GOOD[100:]])
    monkeypatch.setattr(_docker_exec, "subprocess", docker)
    with pytest.raises(RuntimeError, match="workstation:test gave no tar archive in 3 tries"):
        asyncio.run(_together(1))
    assert docker.calls == 3
    assert not _docker_exec._seeds
