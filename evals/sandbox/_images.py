"""Build the sandbox images locally with the docker SDK (there is no registry to pull from)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from evals.sandbox._labels import BASE_IMAGE, IMAGE_PREFIX, LABEL

HASH_LABEL = "scheming-evals.context-sha256"


def images_dir() -> Path:
    from evals.scenario import project_root

    return project_root() / "sandboxes" / "images"


def _context(name: str) -> Path:
    """The build folder of an image: sandboxes/images/<name>, or a scenario pack's
    images/<image> for a key `<pack namespace>/<image>`."""
    from evals.scenario import image_context

    return image_context(name)


def image_tag(name: str) -> str:
    return f"{IMAGE_PREFIX}{name}:latest"


def available_images() -> list[str]:
    return sorted(p.parent.name for p in images_dir().glob("*/Dockerfile"))


def _local_parent(name: str) -> str | None:
    """The image of this project that sandboxes/images/<name> builds FROM, if any."""
    for line in (_context(name) / "Dockerfile").read_text().splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].upper() == "FROM" and words[1].startswith(IMAGE_PREFIX):
            parent = words[1][len(IMAGE_PREFIX) :].split(":")[0]
            if (_context(parent) / "Dockerfile").is_file():
                return parent
    return None


def _with_parents(names: Iterable[str]) -> list[str]:
    """`names` and the local images they build FROM, parents first."""
    out: list[str] = []

    def add(name: str, seen: tuple[str, ...] = ()) -> None:
        if name in out or name in seen:
            return
        parent = _local_parent(name) if (_context(name) / "Dockerfile").is_file() else None
        if parent:
            add(parent, (*seen, name))
        out.append(name)

    for n in names:
        add(n)
    return out


def _context_hash(context: Path, base_id: str) -> str:
    h = hashlib.sha256(base_id.encode())
    for f in sorted(p for p in context.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(context)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


@dataclass(frozen=True)
class BuildResult:
    name: str
    tag: str
    built: bool
    """False when an image of the same context was already there."""


class ImageError(RuntimeError):
    pass


def build_images(names: Iterable[str] | None = None, *, force: bool = False) -> list[BuildResult]:
    """Build sandboxes/images/<name> for each name (default: all), skipping up-to-date ones."""
    import docker
    from docker.errors import BuildError, ImageNotFound

    client = docker.from_env()
    try:
        base = client.images.get(BASE_IMAGE)
    except ImageNotFound:
        raise ImageError(
            f"base image {BASE_IMAGE} is missing: run `scheming setup` (or sandboxes/bootstrap.sh)"
        ) from None
    results = []
    for name in _with_parents(names or available_images()):
        context = _context(name)
        if not (context / "Dockerfile").is_file():
            raise ImageError(f"no image '{name}' (expected {context / 'Dockerfile'})")
        tag = image_tag(name)
        parent = _local_parent(name)
        parent_id = client.images.get(image_tag(parent)).id if parent else base.id
        digest = _context_hash(context, parent_id or "")
        if not force:
            try:
                existing = client.images.get(tag)
                if (existing.labels or {}).get(HASH_LABEL) == digest:
                    results.append(BuildResult(name, tag, built=False))
                    continue
            except ImageNotFound:
                pass
        try:
            client.images.build(
                path=str(context),
                tag=tag,
                labels={LABEL: "1", HASH_LABEL: digest},
                rm=True,
                forcerm=True,
                pull=False,
            )
        except BuildError as ex:
            tail = "".join(str(c.get("stream", c.get("error", ""))) for c in ex.build_log)[-2000:]
            raise ImageError(f"building {tag} failed: {ex.msg}\n{tail}") from None
        results.append(BuildResult(name, tag, built=True))
    return results


def missing_images(names: Iterable[str]) -> list[str]:
    import docker
    from docker.errors import ImageNotFound

    client = docker.from_env()
    out = []
    for n in names:
        try:
            client.images.get(image_tag(n))
        except ImageNotFound:
            out.append(n)
    return out


def _dockerfile_chain(image: str) -> list[Path]:
    """The Dockerfiles of `image` and of the project images it builds FROM, child first."""
    chain: list[Path] = []
    name: str | None = image
    while name is not None and len(chain) < 8:
        path = _context(name) / "Dockerfile"
        if not path.is_file():
            break
        chain.append(path)
        name = None
        for line in path.read_text().splitlines():
            words = line.split()
            if len(words) >= 2 and words[0].upper() == "FROM" and words[1].startswith(IMAGE_PREFIX):
                name = words[1][len(IMAGE_PREFIX) :].split(":")[0]
    return chain


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def image_user(image: str) -> str:
    """The user an image runs as (its last `USER`), 'root' when none is set."""
    for path in _dockerfile_chain(image):
        users = [arg for word, arg in _instructions(path) if word == "USER"]
        if users:
            return users[-1].split(":")[0]
    return "root"


def image_uid(image: str, user: str) -> int | None:
    """The numeric uid of `user` in `image`: a number, or the `--uid N` its Dockerfiles give
    to `useradd … user`; None when they do not say."""
    if user.isdigit():
        return int(user)
    if user == "root":
        return 0
    pattern = re.compile(
        r"useradd\b[^&;|]*?(?:--uid|-u)\s+(\d+)[^&;|]*?\s" + re.escape(user) + r"\b"
    )
    for path in _dockerfile_chain(image):
        for word, arg in _instructions(path):
            if word == "RUN":
                m = pattern.search(arg + " ")
                if m:
                    return int(m.group(1))
    return None
