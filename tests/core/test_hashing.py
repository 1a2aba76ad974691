"""Streaming hash-while-copy, tree digests, the Digest type, and a save/load property."""

from __future__ import annotations

import array
import hashlib
import io
import os
from collections.abc import Iterator
from itertools import permutations
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import satchel
from satchel.config import Settings
from satchel.errors import ValidationError
from satchel.hashing import Digest, HashingSink, copy_and_hash, digest_bytes, tree_digest

CHUNK = 64 * 1024
SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 17]


class Collector:
    """A ``write`` target that copies what it is given (the caller reuses its buffers)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.calls = 0

    def __call__(self, view: memoryview) -> None:
        self.data += view
        self.calls += 1


class Trickle(io.RawIOBase):
    """A source that returns at most ``step`` bytes per read, like a pipe or socket."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = memoryview(data)
        self._step = step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(self._step, len(buffer), len(self._data))
        buffer[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


def sha_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- copy_and_hash ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_copy_and_hash_matches_hashlib(size: int) -> None:
    data = os.urandom(size)
    out = Collector()
    digest, total = copy_and_hash(io.BytesIO(data), out, chunk_size=CHUNK)
    assert digest == Digest(hexdigest=sha_hex(data))
    assert total == size
    assert bytes(out.data) == data


@pytest.mark.parametrize("prefix_size", [1, 10, CHUNK - 1, CHUNK + 5])
@pytest.mark.parametrize("size", SIZES)
def test_copy_and_hash_with_prefix(size: int, prefix_size: int) -> None:
    prefix = os.urandom(prefix_size)
    data = os.urandom(size)
    out = Collector()
    digest, total = copy_and_hash(io.BytesIO(data), out, prefix=prefix, chunk_size=CHUNK)
    assert digest.hexdigest == sha_hex(prefix + data)
    assert total == prefix_size + size
    assert bytes(out.data) == prefix + data


def test_copy_and_hash_writes_in_bounded_chunks() -> None:
    data = os.urandom(5 * CHUNK + 3)
    sizes: list[int] = []
    out = bytearray()

    def write(view: memoryview) -> None:
        sizes.append(len(view))
        out.extend(view)

    copy_and_hash(io.BytesIO(data), write, chunk_size=CHUNK)
    assert max(sizes) <= CHUNK
    assert sum(sizes) == len(data)
    assert bytes(out) == data


def test_copy_and_hash_handles_short_reads() -> None:
    data = os.urandom(3 * CHUNK + 999)
    out = Collector()
    digest, total = copy_and_hash(Trickle(data, 1000), out, prefix=b"pre", chunk_size=CHUNK)
    assert digest.hexdigest == sha_hex(b"pre" + data)
    assert total == len(data) + 3
    assert bytes(out.data) == b"pre" + data


def test_copy_and_hash_reports_progress() -> None:
    data = os.urandom(3 * CHUNK + 1)
    seen: list[int] = []
    copy_and_hash(
        io.BytesIO(data), Collector(), prefix=b"ab", chunk_size=CHUNK, on_chunk=seen.append
    )
    assert seen == sorted(seen)
    assert seen[-1] == len(data) + 2
    assert len(seen) == 4


def test_copy_and_hash_propagates_write_errors() -> None:
    def failing(view: memoryview) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        copy_and_hash(io.BytesIO(os.urandom(2 * CHUNK)), failing, chunk_size=CHUNK)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=3 * CHUNK + 10), st.binary(max_size=100))
def test_copy_and_hash_property(data: bytes, prefix: bytes) -> None:
    out = Collector()
    digest, total = copy_and_hash(io.BytesIO(data), out, prefix=prefix, chunk_size=CHUNK)
    assert digest.hexdigest == sha_hex(prefix + data)
    assert total == len(prefix) + len(data)
    assert bytes(out.data) == prefix + data


def test_hashing_sink_and_digest_bytes() -> None:
    target = io.BytesIO()
    sink = HashingSink(target)
    for part in (b"abc", bytearray(b"def"), memoryview(b"ghi")):
        assert sink.write(part) == 3
    assert sink.size == 9
    assert sink.digest().hexdigest == sha_hex(b"abcdefghi")
    assert target.getvalue() == b"abcdefghi"
    assert digest_bytes(b"abcdefghi") == sink.digest()
    assert HashingSink().digest().hexdigest == sha_hex(b"")


def test_hashing_sink_counts_bytes_not_items() -> None:
    items = array.array("d", [0.5, 1.5, 2.5])
    target = io.BytesIO()
    sink = HashingSink(target)
    assert sink.write(memoryview(items)) == 24
    assert sink.size == 24
    assert sink.digest().hexdigest == sha_hex(items.tobytes())
    assert target.getvalue() == items.tobytes()


# -- tree_digest ------------------------------------------------------------------------------

ENTRIES = [
    ("b.txt", sha_hex(b"b"), 1),
    ("a/b.txt", sha_hex(b"ab"), 2),
    ("a.txt", sha_hex(b"a"), 1),
    ("A.txt", sha_hex(b"A"), 1),
    ("é.txt", sha_hex(b"e"), 10),
    ("z z.txt", sha_hex(b"zz"), 12345678901),
    ("\U0001f600.bin", sha_hex(b"smile"), 0),
    ("\uff21.txt", sha_hex(b"fullwidth"), 3),
]


def manual_tree_digest(entries: list[tuple[str, str, int]]) -> str:
    lines = sorted(
        (path.encode("utf-8"), f"{sha} {size} {path}\n".encode()) for path, sha, size in entries
    )
    return hashlib.sha256(b"".join(line for _, line in lines)).hexdigest()


def test_tree_digest_matches_documented_format() -> None:
    assert tree_digest(ENTRIES).hexdigest == manual_tree_digest(ENTRIES)


def test_tree_digest_pinned_small_case() -> None:
    entries = [("b", "1" * 64, 2), ("a", "0" * 64, 1)]
    text = f"{'0' * 64} 1 a\n{'1' * 64} 2 b\n".encode()
    assert tree_digest(entries).hexdigest == hashlib.sha256(text).hexdigest()


def test_tree_digest_of_empty_tree() -> None:
    assert tree_digest([]).hexdigest == sha_hex(b"")


def test_tree_digest_independent_of_order() -> None:
    expected = tree_digest(ENTRIES)
    for order in list(permutations(ENTRIES[:5]))[:60]:
        assert tree_digest([*order, *ENTRIES[5:]]) == expected
    assert tree_digest(iter(reversed(ENTRIES))) == expected


def test_tree_digest_sensitive_to_every_field() -> None:
    base = tree_digest(ENTRIES)
    path, sha, size = ENTRIES[0]
    for changed in [("c.txt", sha, size), (path, sha_hex(b"other"), size), (path, sha, size + 1)]:
        assert tree_digest([changed, *ENTRIES[1:]]) != base
    assert tree_digest(ENTRIES[1:]) != base


entry_lists = st.lists(
    st.tuples(
        st.text(st.characters(blacklist_characters="\n", blacklist_categories=["Cs"]), min_size=1),
        st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
        st.integers(min_value=0, max_value=2**50),
    ),
    max_size=8,
    unique_by=lambda e: e[0],
)


@given(entry_lists, st.randoms(use_true_random=False))
def test_tree_digest_property(entries: list[tuple[str, str, int]], rnd: object) -> None:
    shuffled = list(entries)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert tree_digest(shuffled) == tree_digest(entries)
    assert tree_digest(entries).hexdigest == manual_tree_digest(entries)


# -- Digest ---------------------------------------------------------------------------------------

HELLO = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


def test_digest_parse_and_str() -> None:
    digest = Digest.parse(f"sha256:{HELLO}")
    assert digest == Digest(hexdigest=HELLO)
    assert digest.algorithm == "sha256"
    assert str(digest) == f"sha256:{HELLO}"
    assert Digest.parse(HELLO) == digest
    assert Digest.parse(HELLO.upper()) == digest
    assert Digest.parse(str(digest)) == digest
    assert hash(Digest.parse(HELLO)) == hash(digest)
    assert len({digest, Digest.parse(HELLO)}) == 1


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sha256:",
        "sha256",
        HELLO[:-1],
        HELLO + "0",
        HELLO[:-1] + "g",
        f"md5:{HELLO}",
        f"sha1:{HELLO}",
        f"SHA256:{HELLO}",
        f"sha256:sha256:{HELLO}",
        f" sha256:{HELLO}",
        f"sha256:{HELLO} ",
        f"sha256:{HELLO}\n",
        f":{HELLO}",
        "sha256:" + "\u0660" * 64,
        "../" + HELLO[3:],
    ],
)
def test_digest_parse_refuses_bad_text(text: str) -> None:
    with pytest.raises(ValidationError):
        Digest.parse(text)


@pytest.mark.parametrize(
    ("hexdigest", "algorithm"),
    [(HELLO.upper(), "sha256"), (HELLO[:10], "sha256"), (HELLO, "md5"), ("", "sha256")],
)
def test_digest_constructor_refuses_bad_values(hexdigest: str, algorithm: str) -> None:
    with pytest.raises(ValidationError):
        Digest(hexdigest=hexdigest, algorithm=algorithm)


# -- save and load through a real Context ------------------------------------------------------

INLINE_MAX = 1024


@pytest.fixture(scope="module")
def sync_arts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[satchel.Context, Path]]:
    root = tmp_path_factory.mktemp("hash-property")
    settings_ = Settings.load(
        environ={}, home=str(root / "home"), store=str(root / "store"), inline_max=INLINE_MAX
    )
    ctx = satchel.Context(settings=settings_, run_id="hash-run")
    yield ctx, root
    ctx.close()


@settings(max_examples=30, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=INLINE_MAX + 64),
        st.binary(min_size=INLINE_MAX - 4, max_size=INLINE_MAX + 4),
        st.binary(min_size=INLINE_MAX + 1, max_size=20_000),
    )
)
@example(b"")
@example(b"x" * INLINE_MAX)
@example(b"x" * (INLINE_MAX + 1))
def test_save_and_load_round_trip(sync_arts: tuple[satchel.Context, Path], data: bytes) -> None:
    ctx, root = sync_arts
    arts = ctx.sync_artifacts()
    expected = hashlib.sha256(data).hexdigest()

    with arts.writer(kind="blob") as w:
        w.write(data)
    written = w.artifact
    source = root / "source.bin"
    source.write_bytes(data)
    from_file = arts.save_file(source, kind="blob")

    for artifact in (written, from_file):
        assert artifact is not None
        assert artifact.sha256 == expected
        assert artifact.bytes == len(data)
        assert arts.load_bytes_by_id(artifact.artifact_id) == data
        got = arts.get_by_id(artifact.artifact_id)
        assert got is not None
        assert got.sha256 == expected
        assert [f.sha256 for f in got.files] == [expected]
    # Small blobs live inline in the index, larger ones in the blob store: the threshold is
    # inline_max inclusive.
    stored = ctx.store.blobs.stat(Digest(hexdigest=expected))
    if len(data) <= INLINE_MAX:
        assert ctx.store.index.inline_blob(expected) == data
    else:
        assert stored == len(data)


@pytest.mark.parametrize("count", [3, INLINE_MAX])  # 12 bytes inline, 4 KiB in the blob store
def test_save_wide_item_buffer_through_context(
    sync_arts: tuple[satchel.Context, Path], count: int
) -> None:
    ctx, _ = sync_arts
    arts = ctx.sync_artifacts()
    items = array.array("i", range(count))
    with arts.writer(kind="blob") as w:
        w.write(memoryview(items))
    assert w.artifact is not None
    assert w.artifact.bytes == len(items.tobytes())
    assert w.artifact.sha256 == sha_hex(items.tobytes())
    assert arts.load_bytes_by_id(w.artifact.artifact_id) == items.tobytes()
