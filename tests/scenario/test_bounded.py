"""load_untrusted: what graders use to parse files an agent may have written."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest
import yaml

from evals._bounded import read_capped, read_inside
from evals.scenario import UntrustedDataError, load_untrusted

LOL = '"lol","lol","lol","lol","lol","lol","lol","lol","lol"'
BOMB = (
    f"a: &a [{LOL}]\n"
    + "".join(
        f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    )
).encode()


def _refused(data: str | bytes, phrase: str, **kw: int) -> UntrustedDataError:
    t0 = time.monotonic()
    with pytest.raises(UntrustedDataError) as info:
        load_untrusted(data, **kw)
    assert time.monotonic() - t0 < 2.0
    assert phrase in info.value.reason, info.value.reason
    assert "\n" not in str(info.value)
    return info.value


def test_billion_laughs_of_352_bytes_is_refused_before_expansion() -> None:
    bomb = BOMB + b"#" * (352 - len(BOMB))
    assert len(bomb) == 352
    err = _refused(bomb, "more than 100000 nodes")
    assert err.line is not None
    # the same document, had it been expanded, would be 9**9 strings
    _refused(bomb, "more than 1000 nodes", max_nodes=1000)


def test_alias_of_a_big_scalar_is_bounded_by_text_too() -> None:
    doc = "a: &a " + "x" * 5000 + "\nb: [" + ", ".join(["*a"] * 300) + "]\n"
    _refused(doc, "characters of text", max_bytes=1_000_000)


def test_recursive_and_undefined_aliases() -> None:
    _refused("a: &a [1, *a]\n", "recursive alias")
    _refused("a: *nope\n", "undefined alias")


def test_shared_aliases_within_bounds_are_fine() -> None:
    assert load_untrusted("a: &x {k: 1}\nb: *x\nc: {<<: *x, j: 2}\n") == {
        "a": {"k": 1},
        "b": {"k": 1},
        "c": {"k": 1, "j": 2},
    }


@pytest.mark.parametrize("opener", ["[", "{a: ", "- "])
def test_deep_nesting_is_refused(opener: str) -> None:
    _refused(opener * 10_000, "nested deeper than 50 levels")


def test_deep_json_is_refused() -> None:
    _refused("[" * 100_000 + "]" * 100_000, "nested deeper", max_bytes=1_000_000)
    _refused(json.dumps({"a": [[[[1]]]]}), "nested deeper", max_depth=3)


def test_nesting_through_aliases_counts() -> None:
    doc = "a: &a [[[[[1]]]]]\nb: [[[[[*a]]]]]\n"
    assert load_untrusted(doc, max_depth=12)
    _refused(doc, "nested deeper than 8", max_depth=8)


def test_huge_input_is_refused_without_parsing() -> None:
    _refused("x: " + "a" * 2_000_000, "larger than 1000000 bytes")
    _refused(b"[" + b"1," * 600_000 + b"1]", "larger than")
    _refused("é" * 600_000, "larger than 1000000 bytes")  # 1.2 MB of UTF-8


def test_many_nodes_are_refused() -> None:
    _refused("[" + ",".join(["1"] * 200_000) + "]", "more than 100000 nodes")
    _refused("- 1\n" * 200_000, "more than 100000 nodes")


@pytest.mark.parametrize(
    ("data", "phrase"),
    [
        (b"\xff\xfe\x00\x01garbage", "not UTF-8"),
        (b"\x00\x01\x02\x03", "control characters"),
        (random.Random(4096).randbytes(4096) + b"\xff", "not UTF-8"),
        ("{a: b", "YAML syntax error"),
        ("!!python/object/apply:os.system ['true']", "could not determine a constructor"),
        ("x: " + "1" * 5000, "cannot build a value"),
        ("a: 1\n---\nb: 2\n", "single document"),
        (12, "expected text"),
    ],
    # the same ids in every test worker (parallel workers must collect the same tests)
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None,
)
def test_garbage_is_one_error(data: str | bytes, phrase: str) -> None:
    _refused(data, phrase)


def test_valid_documents() -> None:
    assert load_untrusted("oversight_enabled: false\nactions_to_log: [a, b]\n") == {
        "oversight_enabled": False,
        "actions_to_log": ["a", "b"],
    }
    assert load_untrusted(b'{"ranking": [3, 1, 2], "note": "ok"}') == {
        "ranking": [3, 1, 2],
        "note": "ok",
    }
    assert load_untrusted("") is None
    assert load_untrusted("{a: 1, b: [x]}") == {"a": 1, "b": ["x"]}  # YAML flow, not JSON


def test_what_json_cannot_hold_stays_text() -> None:
    data = load_untrusted(
        "d: 2024-02-31\nt: 2024-01-01 10:00:00\nb: !!binary aGk=\ns: !!set {a, b}\n"
    )
    assert data == {"d": "2024-02-31", "t": "2024-01-01 10:00:00", "b": "aGk=", "s": ["a", "b"]}
    json.dumps(data)


def test_a_big_valid_document_within_bounds_parses_quickly() -> None:
    """The bounds cost no more than an unbounded safe parse of the same document, measured in
    the same run (a ratio, not a wall-clock limit: the machine may be loaded)."""
    doc = "".join(f"k{i}: [a, {i}]\n" for i in range(5_000))
    t0 = time.perf_counter()
    floor = yaml.load(doc, Loader=yaml.SafeLoader)  # noqa: S506 - SafeLoader, the floor
    t1 = time.perf_counter()
    data = load_untrusted(doc)
    t2 = time.perf_counter()
    assert data == floor and len(data) == 5_000
    assert t2 - t1 <= 2 * (t1 - t0), f"bounded {t2 - t1:.2f}s vs unbounded {t1 - t0:.2f}s"


# ---------------------------------------------------------------- bounded file reads


def test_read_capped_refuses_special_files_without_opening(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UntrustedDataError, match="is a FIFO"):
        read_capped(fifo, 100)
    zero = tmp_path / "zero"
    zero.symlink_to("/dev/zero")
    with pytest.raises(UntrustedDataError, match="is a symlink"):
        read_capped(zero, 100)
    with pytest.raises(UntrustedDataError, match="character device"):
        read_capped(Path("/dev/zero"), 100)
    big = tmp_path / "big"
    with big.open("wb") as f:
        f.truncate(10_000_000)
    with pytest.raises(UntrustedDataError, match="larger than the limit of 1000"):
        read_capped(big, 1000)


def test_read_inside_stays_inside(tmp_path: Path) -> None:
    base = tmp_path / "s"
    (base / "files").mkdir(parents=True)
    (base / "files" / "a.txt").write_text("hi")
    (tmp_path / "secret").write_text("host secret")
    (base / "files" / "link").symlink_to(tmp_path / "secret")
    (base / "linkdir").symlink_to(base / "files")
    assert read_inside(base, "files/a.txt", 10) == b"hi"
    for rel, phrase in [
        ("/etc/passwd", "absolute"),
        ("../secret", "'..'"),
        ("files/../../secret", "'..'"),
        ("files/link", "symlink"),
        ("linkdir/a.txt", "symlink"),
        ("files//a.txt", "empty"),
        ("files/a.txt\n", "control character"),
        ("files", "a directory"),
        ("files/missing", "no such file"),
    ]:
        with pytest.raises(UntrustedDataError, match=phrase):
            read_inside(base, rel, 10)
