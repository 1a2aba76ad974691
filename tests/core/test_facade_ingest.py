"""Stage/ingest API of the ArtifactFacade (seeds/002 section 3): stage_path, stage_dir,
ingest_file, ingest_dir.

seeds/README.md: AetherGraph's directory ingest keeps only a manifest and ``as_local_dir``
never works; satchel keeps every file and gives the tree back byte-identical.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import satchel
from conftest import remote_too, store_of
from satchel import (
    ArtifactNotDirectoryError,
    InvalidFileKeyError,
    NotFoundError,
    UnsupportedEntryError,
    ValidationError,
)
from satchel.hashing import tree_digest

pytestmark = remote_too

# -- helpers --------------------------------------------------------------------------------


def stored_blob_digests(context: satchel.Context) -> set[str]:
    """The SHA-256 of every blob in the blob store (reaches into storage on purpose)."""
    return {digest.hexdigest for digest, _ in store_of(context).blobs.iter_blobs()}


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for key, data in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def read_tree(root: str | Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative POSIX path; fails on anything but files/dirs."""
    out: dict[str, bytes] = {}
    base = Path(root)
    for path in base.rglob("*"):
        if path.is_symlink():
            raise AssertionError(f"unexpected symlink {path}")
        if path.is_file():
            out[path.relative_to(base).as_posix()] = path.read_bytes()
        else:
            assert path.is_dir(), path
    return out


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def everything(arts: Any) -> list[satchel.Artifact]:
    return await arts.list(level="run", include_node=False)


NESTED = {
    "README.md": b"# model\n",
    "config.json": b'{"lr": 0.1}',
    "weights/layer1.bin": os.urandom(3000),
    "weights/layer2.bin": os.urandom(40_000),  # above inline_max: a real blob
    "weights/deep/er/still.txt": b"deep",
    "logs/train.log": b"epoch 1\nepoch 2\n",
    "logs/empty.txt": b"",
    "same/a.txt": b"duplicate content",
    "same/b.txt": b"duplicate content",
    "unicode/caf\u00e9.txt": "caf\u00e9".encode(),
    "unicode/nfd-cafe\u0301.txt": b"nfd",
    "odd names/50% & #1?.txt": b"odd",
}


# -- stage_path / stage_dir ----------------------------------------------------------------


async def test_stage_path_is_fresh_and_has_the_extension(arts):
    first = await arts.stage_path(".txt")
    second = await arts.stage_path(".txt")
    assert first != second
    assert first.endswith(".txt")
    assert not os.path.exists(first)
    assert os.path.isdir(os.path.dirname(first))
    assert (await arts.stage_path("log")).endswith(".log")
    plain = await arts.stage_path()
    assert not os.path.exists(plain)
    # The staged paths live in the staging area, next to staged directories.
    staged_dir = await arts.stage_dir()
    assert os.path.dirname(first) == os.path.dirname(staged_dir)
    for ext in ["../x", "/etc", "a/b", ".\\x", "..", "\x00"]:
        with pytest.raises(ValidationError):
            await arts.stage_path(ext)


async def test_stage_dir_creates_an_empty_directory(arts):
    first = await arts.stage_dir()
    second = await arts.stage_dir("_images")
    assert first != second
    for path in (first, second):
        assert os.path.isdir(path)
        assert os.listdir(path) == []
    assert second.endswith("_images")
    for suffix in ["../x", "a/b", "/abs", "..", "x\\y"]:
        with pytest.raises(ValidationError):
            await arts.stage_dir(suffix)


# -- ingest_file ----------------------------------------------------------------------------


async def test_ingest_file_of_a_staged_file_removes_it(arts):
    staged = await arts.stage_path(".bin")
    Path(staged).write_bytes(b"model weights")
    a = await arts.ingest_file(
        staged, kind="model", labels={"domain": "vision"}, tags=["best"], pin=True
    )
    assert not os.path.exists(staged)
    got = await arts.get_by_id(a.artifact_id)
    assert got == a
    assert (got.kind, got.labels, got.tags, got.pinned) == (
        "model",
        {"domain": "vision"},
        ["best"],
        True,
    )
    assert await arts.load_bytes_by_id(a.artifact_id) == b"model weights"

    missing = await arts.stage_path(".bin")
    with pytest.raises(NotFoundError):
        await arts.ingest_file(missing, kind="blob")
    assert [x.artifact_id for x in await everything(arts)] == [a.artifact_id]


async def test_ingest_file_outside_staging_keeps_it(arts, tmp_path):
    src = tmp_path / "data.csv"
    src.write_bytes(b"a,b\n")
    a = await arts.ingest_file(src, kind="dataset", suggested_uri="s3://bucket/data.csv")
    assert src.read_bytes() == b"a,b\n"
    assert a.name == "data.csv"
    assert a.labels["suggested_uri"] == "s3://bucket/data.csv"
    assert a.mime == "text/csv"
    assert await arts.load_bytes_by_id(a.artifact_id) == b"a,b\n"

    # A link that lives in staging but points at the caller's file: the file is not staged.
    src = tmp_path / "precious.bin"
    src.write_bytes(b"precious")
    link = Path(await arts.stage_path(".bin"))
    link.symlink_to(src)
    a = await arts.ingest_file(link, kind="blob")
    assert src.read_bytes() == b"precious"
    assert await arts.load_bytes_by_id(a.artifact_id) == b"precious"


# -- ingest_dir: round trip and manifest -------------------------------------------------


async def test_ingest_dir_nested_tree_round_trips_byte_identical(arts, tmp_path):
    tree = write_tree(tmp_path / "model", NESTED)
    a = await arts.ingest_dir(
        tree,
        kind="model_dir",
        labels={"type": "weights"},
        metrics={"file_count": 12},
        tags=["t2", "t1"],
        pin=True,
    )
    assert tree.is_dir()  # not staged: the caller's directory stays
    assert read_tree(tree) == NESTED

    got = await arts.get_by_id(a.artifact_id)
    assert got == a
    assert a.kind == "model_dir"
    assert (a.labels, a.metrics, a.tags, a.pinned) == (
        {"type": "weights"},
        {"file_count": 12.0},
        ["t1", "t2"],
        True,
    )
    assert a.is_dir
    assert a.name == "model"

    local = await arts.as_local_dir(a)
    assert read_tree(local) == NESTED
    # A second call gives the same verified copy.
    assert await arts.as_local_dir(a) == local
    assert read_tree(await arts.as_local_dir(f"satchel://{a.artifact_id}")) == NESTED

    # The manifest: (path, sha256, bytes) per file, sorted; the tree digest; the total size.
    # Unicode keys come back unchanged (NFC and NFD spellings are different files).
    manifest = [(f.path, f.sha256, f.bytes) for f in a.files]
    expected = sorted(
        ((key, sha(data), len(data)) for key, data in NESTED.items()),
        key=lambda e: e[0].encode("utf-8"),
    )
    assert manifest == expected
    assert [f.path for f in a.files] == sorted(
        (f.path for f in a.files), key=lambda p: p.encode("utf-8")
    )
    assert a.sha256 == tree_digest(manifest).hexdigest
    assert a.bytes == sum(len(d) for d in NESTED.values())
    # Each file is loadable on its own.
    for key, data in NESTED.items():
        assert await arts.load_bytes(f"satchel://{a.artifact_id}/{quote(key)}") == data


async def test_ingest_dir_stores_each_distinct_content_once(arts, context, tmp_path):
    big = os.urandom(store_of(context).settings.inline_max + 100)
    tree = write_tree(tmp_path / "dup", {"a.bin": big, "b/c.bin": big, "d.bin": big})
    before = stored_blob_digests(context)
    a = await arts.ingest_dir(tree)
    b = await arts.ingest_dir(tree)
    assert a.artifact_id != b.artifact_id
    assert a.sha256 == b.sha256
    assert stored_blob_digests(context) - before == {sha(big)}
    assert read_tree(await arts.as_local_dir(b)) == {"a.bin": big, "b/c.bin": big, "d.bin": big}


# -- include / exclude ----------------------------------------------------------------------


GLOB_TREE = {
    "top.txt": b"1",
    "top.bin": b"2",
    "a/one.txt": b"3",
    "a/deep/two.txt": b"4",
    "a/deep/three.bin": b"5",
    "b/four.txt": b"6",
    "b/five.bin": b"7",
}


GLOB_CASES = [
    ("*.txt", None, ["a/deep/two.txt", "a/one.txt", "b/four.txt", "top.txt"]),
    (["*.txt"], None, ["a/deep/two.txt", "a/one.txt", "b/four.txt", "top.txt"]),
    ("a/**", None, ["a/deep/three.bin", "a/deep/two.txt", "a/one.txt"]),
    ("a/*", None, ["a/one.txt"]),
    (None, "*.bin", ["a/deep/two.txt", "a/one.txt", "b/four.txt", "top.txt"]),
    (None, "a/**", ["b/five.bin", "b/four.txt", "top.bin", "top.txt"]),
    ("a/**", "*.txt", ["a/deep/three.bin"]),  # exclude wins
    ("*.txt", "*.txt", []),
    (["b/**", "top.*"], ["*.bin"], ["b/four.txt", "top.txt"]),
    ("**/deep/*", None, ["a/deep/three.bin", "a/deep/two.txt"]),
    ("t?p.txt", None, ["top.txt"]),
]


async def test_ingest_dir_include_exclude(arts, tmp_path):
    tree = write_tree(tmp_path / "g", GLOB_TREE)
    for include, exclude, expected in GLOB_CASES:
        a = await arts.ingest_dir(tree, include=include, exclude=exclude)
        case = (include, exclude)
        assert [f.path for f in a.files] == expected, case
        assert read_tree(await arts.as_local_dir(a)) == {k: GLOB_TREE[k] for k in expected}, case
        assert a.bytes == sum(len(GLOB_TREE[k]) for k in expected), case
    assert read_tree(tree) == GLOB_TREE


# -- what is refused --------------------------------------------------------------------


async def test_symlink_to_a_file_inside_is_stored_as_its_content(arts, tmp_path):
    tree = write_tree(tmp_path / "t", {"real/data.bin": b"real bytes"})
    (tree / "alias.bin").symlink_to("real/data.bin")
    (tree / "real" / "abs-alias.bin").symlink_to(tree / "real" / "data.bin")
    a = await arts.ingest_dir(tree)
    expected = {
        "alias.bin": b"real bytes",
        "real/abs-alias.bin": b"real bytes",
        "real/data.bin": b"real bytes",
    }
    assert {f.path: f.sha256 for f in a.files} == {k: sha(v) for k, v in expected.items()}
    local = await arts.as_local_dir(a)
    assert read_tree(local) == expected  # read_tree fails on symlinks: these are copies
    assert not any(p.is_symlink() for p in Path(local).rglob("*"))


async def test_symlink_pointing_outside_is_refused_and_nothing_saved(arts, context, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(os.urandom(store_of(context).settings.inline_max + 10))
    before = stored_blob_digests(context)
    targets = {
        "absolute": secret,
        "relative": "../../secret.txt",
        "via-parent": "../../t/../secret.txt",
    }
    for how, target in targets.items():
        tree = write_tree(tmp_path / how / "t", {"ok.txt": b"ok", "sub/ok2.txt": b"ok2"})
        (tmp_path / how / "secret.txt").write_bytes(secret.read_bytes())
        (tree / "sub" / "leak.txt").symlink_to(target)
        for archive in (False, True):
            with pytest.raises(UnsupportedEntryError, match=r"leak\.txt"):
                await arts.ingest_dir(tree, archive=archive)
    assert await everything(arts) == []
    assert stored_blob_digests(context) == before


async def test_symlink_to_a_directory_or_nowhere_is_refused(arts, tmp_path):
    tree = write_tree(tmp_path / "t", {"real/x.txt": b"x"})
    (tree / "linked").symlink_to("real", target_is_directory=True)
    with pytest.raises(UnsupportedEntryError, match="linked"):
        await arts.ingest_dir(tree)
    (tree / "linked").unlink()
    (tree / "gone.txt").symlink_to("does-not-exist.txt")
    with pytest.raises(UnsupportedEntryError, match=r"gone\.txt"):
        await arts.ingest_dir(tree)
    assert await everything(arts) == []


@contextlib.contextmanager
def fifo_unblocker(fifo: Path) -> Iterator[dict[str, bool]]:
    """A safety net: if a reader blocks on ``fifo``, open and close its write end.

    A correct implementation never opens the FIFO in blocking mode; if it did, this thread
    releases it (so the test fails instead of hanging) and records that it had to.
    """
    state = {"released": False}
    stop = threading.Event()

    def run() -> None:
        if stop.wait(10):
            return
        while not stop.is_set():
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # no reader yet (ENXIO), or not a FIFO
                stop.wait(0.05)
                continue
            state["released"] = True
            os.close(fd)
            stop.wait(0.05)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        stop.set()
        thread.join()


async def test_fifo_is_refused_without_hanging(arts, tmp_path):
    tree = write_tree(tmp_path / "t", {"x.txt": b"x"})
    fifo = tree / "sub" / "pipe"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    with fifo_unblocker(fifo) as state:
        for archive in (False, True):
            with pytest.raises(UnsupportedEntryError, match="FIFO"):
                await arts.ingest_dir(tree, archive=archive)
        with pytest.raises(UnsupportedEntryError, match="FIFO"):
            await arts.save_file(fifo, kind="blob")
        with pytest.raises(UnsupportedEntryError, match="FIFO"):
            await arts.ingest_file(fifo, kind="blob")
    assert not state["released"]
    assert await everything(arts) == []


async def test_excluded_entries_are_neither_opened_nor_refused(arts, tmp_path):
    # A caller who excludes an entry (e.g. a virtualenv full of links to /usr) gets the rest;
    # the excluded entry is never opened, so a FIFO cannot hang the ingest either.
    failures = []
    for entry in ("fifo", "symlink-out", "symlink-dir", "backslash-name"):
        tree = write_tree(tmp_path / entry, {"x.txt": b"x", "skip/keep-out.txt": b"no"})
        target = tree / "skip" / "entry"
        if entry == "fifo":
            os.mkfifo(target)
        elif entry == "symlink-out":
            target.symlink_to(tmp_path)
        elif entry == "symlink-dir":
            target.symlink_to(tree, target_is_directory=True)
        else:
            (tree / "skip" / "a\\b.txt").write_bytes(b"bad")
        with fifo_unblocker(target) as state:
            try:
                excluded = await arts.ingest_dir(tree, exclude="skip/**")
                included = await arts.ingest_dir(tree, include="*.txt", exclude="skip/**")
            except ValidationError as exc:
                failures.append(f"{entry}: {type(exc).__name__}: {exc}")
                continue
        assert not state["released"]
        assert [f.path for f in excluded.files] == ["x.txt"]
        assert [f.path for f in included.files] == ["x.txt"]
    assert failures == []


async def test_file_names_that_cannot_be_keys_are_refused(arts, tmp_path):
    cases = [
        ("bad\\name.txt", "backslash"),
        ("bad\nname.txt", "U+000A"),
        ("bad\tname.txt", "U+0009"),
        ("bad\x1bname.txt", "U+001B"),
    ]
    for number, (name, what) in enumerate(cases):
        tree = write_tree(tmp_path / str(number), {"ok.txt": b"ok"})
        (tree / "sub").mkdir()
        (tree / "sub" / name).write_bytes(b"bad")
        with pytest.raises(InvalidFileKeyError) as info:
            await arts.ingest_dir(tree)
        message = str(info.value)
        assert "position 7" in message, message  # "sub/" is 4 characters, then "bad"
        assert what in message, message
    assert await everything(arts) == []


async def test_ingest_dir_of_a_file_or_missing_dir(arts, tmp_path):
    f = tmp_path / "f.txt"
    f.write_bytes(b"f")
    with pytest.raises(NotADirectoryError):
        await arts.ingest_dir(f)
    with pytest.raises(ArtifactNotDirectoryError):
        await arts.ingest_dir(f)
    with pytest.raises(FileNotFoundError):
        await arts.ingest_dir(tmp_path / "missing")
    assert await everything(arts) == []


# -- empty directories ----------------------------------------------------------------------


async def test_empty_dir_is_a_directory_artifact_with_no_files(arts, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    a = await arts.ingest_dir(empty)
    got = await arts.get_by_id(a.artifact_id)
    assert got == a
    assert a.is_dir
    assert a.files == []
    assert a.bytes == 0
    assert a.sha256 == tree_digest([]).hexdigest
    local = await arts.as_local_dir(a)
    assert os.path.isdir(local)
    assert os.listdir(local) == []
    with pytest.raises(IsADirectoryError):
        await arts.load_bytes_by_id(a.artifact_id)

    # Empty subdirectories are not recorded: an artifact is a set of files.
    tree = write_tree(tmp_path / "t", {"x/y.txt": b"y"})
    (tree / "x" / "empty").mkdir()
    (tree / "z" / "also-empty").mkdir(parents=True)
    b = await arts.ingest_dir(tree)
    assert [f.path for f in b.files] == ["x/y.txt"]
    assert read_tree(await arts.as_local_dir(b)) == {"x/y.txt": b"y"}


# -- archive ------------------------------------------------------------------------------


async def test_archive_stores_one_tar_and_unpacks_byte_identical(arts, context, tmp_path):
    tree = write_tree(tmp_path / "model", NESTED)
    before = stored_blob_digests(context)
    a = await arts.ingest_dir(tree, archive=True, kind="model_dir")
    assert await arts.get_by_id(a.artifact_id) == a
    assert len(a.files) == 1
    assert a.files[0].path.endswith(".tar")
    assert a.mime == "application/x-tar"
    assert a.sha256 == a.files[0].sha256
    data = await arts.load_bytes_by_id(a.artifact_id)
    assert sha(data) == a.sha256
    assert len(data) == a.bytes
    # Only the tar went to the blob store (its members are not stored separately).
    new_blobs = stored_blob_digests(context) - before
    assert new_blobs <= {a.sha256}
    assert sha(NESTED["weights/layer2.bin"]) not in new_blobs
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == set(NESTED)
        assert all(m.isfile() for m in members.values())
        for key, value in NESTED.items():
            extracted = tar.extractfile(members[key])
            assert extracted is not None
            assert extracted.read() == value

    local = await arts.as_local_dir(a)
    assert read_tree(local) == NESTED
    assert await arts.as_local_dir(a) == local
    assert read_tree(local) == NESTED

    # Deterministic: a changed mtime gives the same tar.
    os.utime(tree / "README.md", (1, 1))
    again = await arts.ingest_dir(tree, archive=True)
    assert again.artifact_id != a.artifact_id
    assert again.sha256 == a.sha256

    # include/exclude apply to archives too.
    glob_tree = write_tree(tmp_path / "g", GLOB_TREE)
    part = await arts.ingest_dir(glob_tree, archive=True, include="a/**", exclude="*.txt")
    assert read_tree(await arts.as_local_dir(part)) == {"a/deep/three.bin": b"5"}


# -- staged directories ---------------------------------------------------------------------


async def test_ingest_of_a_staged_dir_removes_it(arts, tmp_path):
    for archive in (False, True):
        staged = Path(await arts.stage_dir("_out"))
        write_tree(staged, {"a.txt": b"a", "b/c.txt": b"c"})
        a = await arts.ingest_dir(staged, archive=archive, labels={"type": "images"})
        assert not staged.exists()
        assert read_tree(await arts.as_local_dir(a)) == {"a.txt": b"a", "b/c.txt": b"c"}
        assert a.labels == {"type": "images"}

    # A failed ingest leaves the staged directory alone.
    staged = Path(await arts.stage_dir())
    write_tree(staged, {"a.txt": b"a"})
    (staged / "out").symlink_to(tmp_path)
    with pytest.raises(UnsupportedEntryError):
        await arts.ingest_dir(staged)
    assert (staged / "a.txt").read_bytes() == b"a"
    assert len(await everything(arts)) == 2
