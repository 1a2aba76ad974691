"""The hostile input corpus against the embedded SDK (RELIABILITY P6, P9; issue 8).

Every entry of ``tests/hostile.py`` goes through both facade twins on the local store (the
one whose blobs and copies are files): each is refused with a ``SatchelError`` of a stable
code, or kept as inert data; nothing hangs; and nothing outside the store, its home and
the test's own input is read or written. "Not read" is checked by content: a canary file
sits outside every ingested tree, and its bytes must appear in no file of the store.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import socket
import sqlite3
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import hostile as H
import satchel
from satchel import (
    InvalidFileKeyError,
    InvalidMetadataError,
    InvalidNameError,
    InvalidURIError,
    NotFoundError,
    SatchelError,
    UnsupportedEntryError,
    ValidationError,
)
from satchel.ingest import DirEntry, write_tar

CANARY = b"CANARY-7f3c9e-outside-the-store"


@pytest.fixture
def store_kind() -> str:
    """The local store: blobs, staging and local copies are files that could escape."""
    return "local"


#: The reads that also run on the remote SDK (a server on a local store): the client
#: parses URIs, pages searches and unpacks archives itself.
local_and_remote = pytest.mark.parametrize("store_kind", ["local", "remote"])


class Fence:
    """What must not change outside the allowed directories of ``root``.

    ``outside/secret.txt`` holds the canary; ``check`` asserts it is unchanged, that no path
    appeared or vanished under ``root`` but inside the allowed directories, and that the
    canary's bytes are in no file of the store or home (so no save read it).
    """

    def __init__(self, root: Path, allowed: tuple[str, ...]) -> None:
        self.root = root
        self.allowed = allowed
        self.outside = root / "outside"
        self.outside.mkdir()
        self.secret = self.outside / "secret.txt"
        self.secret.write_bytes(CANARY)
        self.before = self._paths()

    def _paths(self) -> set[str]:
        found = set()
        for path, dirs, files in os.walk(self.root):
            rel = os.path.relpath(path, self.root)
            if rel == ".":
                dirs[:] = [d for d in dirs if d not in self.allowed]
            found.update(os.path.join(rel, name) for name in dirs + files)
        return found

    def check(self) -> None:
        assert self.secret.read_bytes() == CANARY
        assert self._paths() == self.before, "paths appeared or vanished outside the store"
        for top in ("store", "home"):
            for path, _, files in os.walk(self.root / top):
                for name in files:
                    with contextlib.suppress(OSError):
                        data = Path(path, name).read_bytes()
                        assert CANARY not in data, f"the canary was read into {path}/{name}"


@pytest.fixture
def fence(tmp_path: Path) -> Iterator[Fence]:
    # The embedded store and home; a remote context's client home and server; the input.
    made = Fence(tmp_path, allowed=("store", "home", "in", "client-home", "server"))
    (tmp_path / "in").mkdir()
    yield made
    made.check()


async def everything(arts: Any) -> list[satchel.Artifact]:
    return list(await arts.list(level="org", include_node=False))


@contextlib.contextmanager
def unblocker(fifo: Path) -> Iterator[dict[str, bool]]:
    """If anything blocks reading ``fifo``, open and close its write end after 10 s, so the
    test fails instead of hanging; ``released`` records that it had to."""
    state = {"released": False}
    stop = threading.Event()

    def run() -> None:
        if stop.wait(10):
            return
        while not stop.is_set():
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
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


# -- names, metadata, payloads --------------------------------------------------------------


async def test_bad_names_are_refused_on_every_save(arts: Any, fence: Fence) -> None:
    tree = fence.root / "in" / "tree"
    tree.mkdir()
    (tree / "f.txt").write_bytes(b"f")
    for name in H.BAD_NAMES:
        saves = [
            arts.save_text("x", name=name),
            arts.save_json({}, name=name),
            arts.save_file(tree / "f.txt", kind="k", name=name),
            arts.ingest_dir(tree, name=name),
        ]
        for save in saves:
            with pytest.raises(InvalidNameError) as info:
                await save
            assert info.value.code == "invalid_name"
        with pytest.raises(InvalidNameError):
            async with arts.writer(kind="k", name=name) as w:
                await w.write(b"never kept")
    assert await everything(arts) == []


async def test_path_like_names_and_uris_stay_data(arts: Any, fence: Fence) -> None:
    """A name or ``suggested_uri`` that looks like a path is kept as text: never opened,
    never fetched, never a storage key; the file key is its last valid segment."""
    for name in H.INERT_NAMES:
        a = await arts.save_text("mine", name=name)
        assert a.name == name
        assert all("/" not in f.path and f.path not in ("..", ".") for f in a.files)
        assert await arts.load_bytes_by_id(a.artifact_id) == b"mine"
    for uri in H.INERT_SUGGESTED_URIS:
        a = await arts.save_text("mine", suggested_uri=uri)
        assert a.labels["suggested_uri"] == uri
        assert await arts.load_bytes_by_id(a.artifact_id) == b"mine"
    assert len(await everything(arts)) == len(H.INERT_NAMES) + len(H.INERT_SUGGESTED_URIS)


async def test_bad_metadata_is_refused_and_nothing_saved(arts: Any, fence: Fence) -> None:
    calls: list[dict[str, Any]] = [
        *({"labels": {key: 1}} for key in H.BAD_LABEL_KEYS),
        *({"labels": {"k": value}} for value in H.BAD_LABEL_VALUES),
        *({"metrics": {"m": value}} for value in H.BAD_METRIC_VALUES),
        *({"metrics": {key: 1.0}} for key in H.BAD_LABEL_KEYS),
        *({"tags": [tag]} for tag in ("", "t\x00", "t\ud800", H.LONG_TAG)),
        *({"suggested_uri": uri} for uri in H.BAD_SUGGESTED_URIS),
        {"labels": H.TOO_MANY_LABELS},
        {"tags": H.TOO_MANY_TAGS},
        {"kind": H.LONG_KIND},
        {"kind": "k\x00"},
        {"mime": "text/\x00plain"},
    ]
    for kwargs in calls:
        with pytest.raises(InvalidMetadataError) as info:
            await arts.save_text("x", **kwargs)
        assert info.value.code == "invalid_metadata", kwargs
    for kwargs in calls[:4]:
        with pytest.raises(InvalidMetadataError):
            async with arts.writer(kind="k", **kwargs) as w:
                await w.write(b"never kept")
    assert await everything(arts) == []


async def test_payloads_that_cannot_be_stored_are_refused(arts: Any) -> None:
    deep: list[Any] = []
    node = deep
    for _ in range(H.DEEP):
        node.append([])
        node = node[0]
    payloads: list[tuple[str, Callable[[], Any]]] = [
        ("surrogate text", lambda: arts.save_text("bad \ud800 text")),
        ("surrogate json", lambda: arts.save_json({"k": "\udcff"})),
        ("deep json", lambda: arts.save_json(deep)),
        ("nan json", lambda: arts.save_json({"loss": math.nan})),
        ("inf json", lambda: arts.save_json([math.inf])),
    ]
    for what, save in payloads:
        with pytest.raises(ValidationError) as info:
            await save()
        assert info.value.code == "validation_error", what
    assert await everything(arts) == []


# -- reads by hostile URI, id, search -------------------------------------------------------


@local_and_remote
async def test_hostile_uris_are_never_fetched(arts: Any, fence: Fence) -> None:
    a = await arts.save_text("inside", name="a.txt")
    for uri in H.BAD_LOAD_URIS:
        for read in (arts.load_bytes, arts.as_local_file, arts.as_local_dir):
            with pytest.raises(InvalidURIError) as info:
                await read(uri)
            assert info.value.code == "invalid_uri", uri
    for path in H.BAD_SATCHEL_PATHS:
        uri = f"satchel://{a.artifact_id}/{path}"
        for read in (arts.load_bytes, arts.as_local_file):
            with pytest.raises(InvalidFileKeyError):
                await read(uri)
    for key in sorted(H.INERT_KEYS):
        # Percent signs and lookalike dots are one file name inside the artifact: not there.
        with pytest.raises(NotFoundError):
            await arts.load_bytes(f"satchel://{a.artifact_id}/{key.replace('%', '%25')}")


async def test_hostile_ids_are_not_found(arts: Any) -> None:
    await arts.save_text("x")
    for bad in [*H.BAD_IDS, "\udcff", "01\ud800"]:
        assert await arts.get_by_id(bad) is None
        for call in (arts.load_bytes_by_id, arts.lineage, arts.pin):
            with pytest.raises(NotFoundError):
                await call(bad)
        if "\x00" not in bad and bad:
            with pytest.raises(NotFoundError):
                await arts.load_bytes(f"satchel://{bad.replace('/', '%2F')}")


@local_and_remote
async def test_hostile_search_text_filters_and_limits(arts: Any) -> None:
    await arts.save_text("alpha beta", name="a.txt", labels={"k": "v"})
    for text in ("\ud800", "x\x00y", H.LONG_SEARCH):
        for mode in ("lexical", "semantic", "hybrid"):
            with pytest.raises(ValidationError):
                await arts.search(query=text, mode=mode)
    for text in ('"', "*", "NEAR(", "a OR", "'", "%", "\\", "AND", "-", "^", "x:y"):
        assert isinstance(await arts.search(query=text), list)
    for filters in ({"k": "\ud800"}, {"k": math.nan}, {"k": 10**30}, {"k\x00": 1}, {"k": [1]}):
        with pytest.raises(InvalidMetadataError):
            await arts.search(labels=filters)
        with pytest.raises(InvalidMetadataError):
            await arts.list(filters=filters)
    for window in ("1e309s", "-1s", "99999999d", "\x00", "1s\n", "NaN"):
        with pytest.raises(ValidationError):
            await arts.search(time_window=window)
    # A limit past any SQL integer means "all of them", never an overflow.
    for limit in (10**30, 2**63, 2**63 - 1):
        assert len(await arts.search(limit=limit, level="org")) == 1
        assert len(await arts.search(query="alpha", limit=limit, level="org")) == 1
        assert len(await arts.list(limit=limit, level="org", include_node=False)) == 1
    for limit in (-1, True, 1.5, "3"):
        with pytest.raises(ValidationError):
            await arts.search(limit=limit)


# -- directories: symlinks, FIFOs, sockets, odd names ---------------------------------------


def _tree(fence: Fence, name: str) -> Path:
    tree = fence.root / "in" / name
    (tree / "sub").mkdir(parents=True)
    (tree / "ok.txt").write_bytes(b"ok")
    return tree


def _hostile_trees(fence: Fence) -> dict[str, tuple[Path, type[SatchelError]]]:
    """Trees that must be refused, each with the error class it must raise."""
    secret = fence.secret
    trees: dict[str, tuple[Path, type[SatchelError]]] = {}

    def add(name: str, error: type[SatchelError], make: Callable[[Path], None]) -> None:
        tree = _tree(fence, name)
        make(tree)
        trees[name] = (tree, error)

    add("link-absolute", UnsupportedEntryError, lambda t: (t / "sub/l").symlink_to(secret))
    add(
        "link-relative",
        UnsupportedEntryError,
        lambda t: (t / "sub/l").symlink_to("../../../outside/secret.txt"),
    )
    add("link-dir-out", UnsupportedEntryError, lambda t: (t / "l").symlink_to(fence.outside))
    add("link-proc", UnsupportedEntryError, lambda t: (t / "l").symlink_to("/proc/self/environ"))
    add("link-dev", UnsupportedEntryError, lambda t: (t / "l").symlink_to("/dev/zero"))
    add(
        "link-loop",
        UnsupportedEntryError,
        lambda t: ((t / "a").symlink_to("b"), (t / "b").symlink_to("a")),
    )
    add("link-self", UnsupportedEntryError, lambda t: (t / "sub/me").symlink_to("me"))
    add("link-parent", UnsupportedEntryError, lambda t: (t / "sub/up").symlink_to(".."))
    add("link-dangling", UnsupportedEntryError, lambda t: (t / "l").symlink_to("nowhere"))
    add("fifo", UnsupportedEntryError, lambda t: os.mkfifo(t / "sub" / "pipe"))
    add(
        "link-to-fifo",
        UnsupportedEntryError,
        lambda t: (os.mkfifo(t / "pipe2"), (t / "l").symlink_to("pipe2")),
    )
    add("backslash", InvalidFileKeyError, lambda t: (t / "..\\..\\evil").write_bytes(b"x"))
    add("newline", InvalidFileKeyError, lambda t: (t / "a\nb").write_bytes(b"x"))
    add("escape-seq", InvalidFileKeyError, lambda t: (t / "\x1b[2J").write_bytes(b"x"))
    add("bidi", InvalidFileKeyError, lambda t: (t / "txt.\u202eexe").write_bytes(b"x"))
    add(
        "non-utf8",
        InvalidFileKeyError,
        lambda t: Path(os.fsdecode(os.fsencode(t) + b"/caf\xe9.txt")).write_bytes(b"x"),
    )
    return trees


async def test_hostile_trees_are_refused_without_hanging(arts: Any, fence: Fence) -> None:
    trees = _hostile_trees(fence)
    sock_tree = _tree(fence, "socket")
    server = socket.socket(socket.AF_UNIX)
    short = Path(tempfile.mkdtemp(prefix="s"))  # a socket's path is at most 107 bytes
    server.bind(str(short / "s"))
    os.rename(short / "s", sock_tree / "sub" / "sock")
    short.rmdir()
    trees["socket"] = (sock_tree, UnsupportedEntryError)
    fifos = [fence.root / "in" / "fifo" / "sub" / "pipe", fence.root / "in" / "link-to-fifo/pipe2"]
    try:
        with unblocker(fifos[0]) as first, unblocker(fifos[1]) as second:
            for name, (tree, error) in trees.items():
                for archive in (False, True):
                    with pytest.raises(error) as info:
                        await arts.ingest_dir(tree, archive=archive)
                    assert info.value.code == error.code, name
            for path in (*fifos, sock_tree / "sub" / "sock", Path("/dev/zero")):
                with pytest.raises(SatchelError) as refused:
                    await arts.save_file(path, kind="k")
                assert refused.value.code == "unsupported_entry", path
                with pytest.raises(SatchelError) as load:
                    await arts.load_bytes(path)  # a local path: read only if a regular file
                assert load.value.code == "unsupported_entry", path
        assert not first["released"] and not second["released"], "something blocked on a FIFO"
    finally:
        server.close()
    assert await everything(arts) == []


def test_the_archive_writer_refuses_what_is_no_longer_a_file(tmp_path: Path) -> None:
    """Between the walk and the tar, a file swapped for a FIFO or a link is refused."""
    (tmp_path / "real.txt").write_bytes(b"real")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "link").symlink_to(tmp_path / "real.txt")
    with unblocker(tmp_path / "pipe") as state:
        for name in ("pipe", "link"):
            with pytest.raises(UnsupportedEntryError):
                write_tar(io.BytesIO(), [DirEntry("k", tmp_path / name)])
    assert not state["released"]
    out = io.BytesIO()
    write_tar(out, [DirEntry("k", tmp_path / "real.txt")])
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        member = tar.extractfile("k")
        assert member is not None and member.read() == b"real"


async def test_a_tree_deeper_than_the_recursion_limit_is_ingested(
    arts: Any, tmp_path: Path
) -> None:
    """The walk is not recursive: 1,100 nested folders are one ordinary artifact."""
    top = tmp_path / "deep"
    here = top
    try:
        for _ in range(1100):
            here = here / "d"
            here.mkdir(parents=True)
        (here / "leaf.txt").write_bytes(b"leaf")
        a = await arts.ingest_dir(top)
        assert [f.path for f in a.files] == ["d/" * 1100 + "leaf.txt"]
    finally:
        # Python 3.11's shutil.rmtree (and so pytest's cleanup) recurses: remove it here.
        subprocess.run(["rm", "-rf", str(top)], check=True)


# -- archives with hostile members ----------------------------------------------------------


def _tar(members: list[tarfile.TarInfo], data: bytes = b"EVIL", mode: str = "w") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode, format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            if member.isfile():
                member.size = len(data)
                tar.addfile(member, io.BytesIO(data))
            else:
                tar.addfile(member)
    return out.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def hostile_archives(secret: Path) -> dict[str, bytes]:
    """Tar files ``as_local_dir`` must refuse to unpack."""
    archives = {f"member {name!r}": _tar([_member(name)]) for name in H.TAR_ESCAPES}
    archives.update(
        {
            "symlink member": _tar([_member("l", tarfile.SYMTYPE, str(secret))]),
            "relative symlink": _tar([_member("l", tarfile.SYMTYPE, "../../../outside")]),
            "hard link": _tar([_member("ok"), _member("h", tarfile.LNKTYPE, str(secret))]),
            "device": _tar([_member("dev", tarfile.CHRTYPE)]),
            "fifo": _tar([_member("pipe", tarfile.FIFOTYPE)]),
            "directory then file": _tar([_member("a"), _member("a/b")]),
            "gzip": _tar([_member("../evil")], mode="w:gz"),
            "not a tar": b"this is not a tar archive " * 40,
            "truncated": _tar([_member("ok")])[:700],
        }
    )
    return archives


@local_and_remote
async def test_archives_with_escaping_members_are_never_unpacked(arts: Any, fence: Fence) -> None:
    for what, data in hostile_archives(fence.secret).items():
        source = fence.root / "in" / "evil.tar"
        source.write_bytes(data)
        a = await arts.save_file(source, kind="archive")
        assert a.mime == "application/x-tar"
        with pytest.raises(ValidationError) as info:
            await arts.as_local_dir(a)
        assert info.value.code in ("validation_error", "invalid_file_key"), what
        # The file itself stays an ordinary, readable artifact.
        assert await arts.load_bytes_by_id(a.artifact_id) == data
    assert not list(fence.root.rglob("evil")), "a member was written"


async def test_a_damaged_record_never_writes_outside_the_copy(
    arts: Any, context: satchel.Context, fence: Fence
) -> None:
    """A file path in the index (or from a server) that climbs out is refused before any
    byte is written: ``as_local_dir`` and ``as_local_file`` check the record first."""
    tree = _tree(fence, "tree")
    d = await arts.ingest_dir(tree)
    f = await arts.save_text("B", name="b.txt")
    index = fence.root / "store" / "index.db"
    with contextlib.closing(sqlite3.connect(index)) as db, db:
        for artifact_id in (d.artifact_id, f.artifact_id):
            db.execute(
                "UPDATE artifact_files SET path = ? WHERE artifact_id = ?",
                ("../../../outside/evil.txt", artifact_id),
            )
    with pytest.raises(InvalidFileKeyError):
        await arts.as_local_dir(f"satchel://{d.artifact_id}")
    with pytest.raises(InvalidFileKeyError):
        await arts.as_local_file(f"satchel://{f.artifact_id}")
    assert not (fence.outside / "evil.txt").exists()
