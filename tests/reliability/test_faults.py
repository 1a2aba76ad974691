"""Fault injection (P10): the N-th ``os.write`` / ``os.fsync`` / ``os.link`` /
``os.rename`` (and other calls) inside ``satchel.storage.local`` fails, for N = 1, 2, ...
until the save completes. Each time the error reaches the caller as ``StorageError`` with
its errno, nothing is indexed, no blob is left under its digest unless complete, and the
store keeps working. A failed fsync is never reported as success.

Blobs are published by ``os.link`` (put-if-absent); ``os.rename`` publishes them on a file
system without hard links, and moves a finished file in (``take_file``: the server's
staged uploads), so both are failed N-th too. So are the ``pwrite``/``fsync``/``fdatasync``/
``ftruncate`` calls of the server's staging area: the chunk answers 503 (507 on ENOSPC)
with a stable code, and the upload resumes from what the server says it holds.
"""

from __future__ import annotations

import errno
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _harness import KIB, check_layout, random_bytes, read_index, sha, stored_blobs, write_tree

import satchel
import satchel.storage.local as local_module
from satchel.config import Settings
from satchel.hashing import Digest

CHUNK = 64 * KIB
MAX_ATTEMPTS = 200


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A local store with small chunks, so one save makes many writes."""
    return Settings.load(
        environ={}, home=str(tmp_path / "home"), store=str(tmp_path / "store"), chunk_size=CHUNK
    )


class FaultyOS:
    """Stands in for the ``os`` module of ``satchel.storage.local``.

    Every attribute is the real one, except that the ``fail_at``-th call of ``op`` raises
    ``OSError(err)`` (counting from 1 since ``arm``). ``short_writes`` makes every
    ``os.write`` write at most that many bytes, as a full disk or a pipe may.
    """

    def __init__(self) -> None:
        self.op: str | None = None
        self.fail_at = 0
        self.err = errno.EIO
        self.calls: dict[str, int] = {}
        self.failed = False
        self.short_writes: int | None = None
        #: Calls that always fail, with their errno (say, ``link``: no hard links here).
        self.refuse: dict[str, int] = {}
        self.fsynced: list[str] = []  # paths fsynced since ``arm``
        # Directories with an entry (a linked or renamed blob) not yet followed by a
        # successful fsync of the directory; kept across ``arm`` calls.
        self.unsynced_dirs: set[str] = set()
        self._lock = threading.Lock()

    def arm(self, op: str | None, fail_at: int = 0, err: int = errno.EIO) -> None:
        with self._lock:
            self.op, self.fail_at, self.err = op, fail_at, err
            self.calls = {}
            self.failed = False
            self.fsynced = []

    def _count(self, name: str) -> None:
        if name in self.refuse:
            raise OSError(self.refuse[name], os.strerror(self.refuse[name]))
        with self._lock:
            self.calls[name] = self.calls.get(name, 0) + 1
            hit = name == self.op and self.calls[name] == self.fail_at
            if hit:
                self.failed = True
        if hit:
            raise OSError(self.err, os.strerror(self.err))

    def __getattr__(self, name: str) -> Any:
        real = getattr(os, name)
        if name in ("open", "fchmod", "close", "link", "rename", "replace"):

            def wrapped(*args: Any, **kwargs: Any) -> Any:
                self._count(name)
                result = real(*args, **kwargs)
                if name in ("link", "rename", "replace"):
                    with self._lock:
                        self.unsynced_dirs.add(os.path.dirname(os.fspath(args[1])))
                return result

            return wrapped
        return real

    def write(self, fd: int, data: Any) -> int:
        self._count("write")
        if self.short_writes is not None:
            data = memoryview(data)[: self.short_writes]
        return os.write(fd, data)

    def fsync(self, fd: int) -> None:
        self._count("fsync")
        os.fsync(fd)
        path = os.readlink(f"/proc/self/fd/{fd}")
        with self._lock:
            self.fsynced.append(path)
            self.unsynced_dirs.discard(path)


@pytest.fixture
def faulty(monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyOS]:
    fake = FaultyOS()
    monkeypatch.setattr(local_module, "os", fake)
    yield fake


Save = Callable[[], Any]


def make_saves(arts: Any, tmp_path: Path) -> dict[str, tuple[Save, dict[str, str]]]:
    """Each kind of save that writes blobs, with the digests of what it stores by key."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    big = random_bytes(5 * CHUNK + 123, "faults-file")
    (tmp_path / "big.bin").write_bytes(big)
    doc = {"values": list(range(8000))}
    doc_bytes = json.dumps(doc, ensure_ascii=False, allow_nan=False).encode("utf-8")
    stream = random_bytes(4 * CHUNK + 77, "faults-stream")
    tree = {
        "a.bin": random_bytes(2 * CHUNK + 5, "faults-a"),
        "b.txt": b"small",
        "c/d.bin": random_bytes(CHUNK // 2, "faults-d"),
    }
    write_tree(tmp_path / "tree", tree)

    async def writer() -> Any:
        async with arts.writer(kind="model", planned_ext=".bin") as w:
            for start in range(0, len(stream), 20 * KIB):
                await w.write(stream[start : start + 20 * KIB])
        return w.artifact

    return {
        "save_file": (
            lambda: arts.save_file(tmp_path / "big.bin", kind="checkpoint"),
            {"big.bin": sha(big)},
        ),
        "save_json": (lambda: arts.save_json(doc), {"artifact.json": sha(doc_bytes)}),
        "writer": (writer, {"model.bin": sha(stream)}),
        "ingest_dir": (
            lambda: arts.ingest_dir(tmp_path / "tree", kind="dataset"),
            {k: sha(v) for k, v in tree.items()},
        ),
    }


def store_root(context: satchel.Context) -> Path:
    blobs: Any = context.store.blobs
    return Path(blobs.root)


def artifact_count(store: Path) -> int:
    return len(read_index(store).artifacts)


async def assert_store_works(arts: Any, n: int) -> None:
    art = await arts.save_text(f"still working {n}")
    assert await arts.load_text_by_id(art.artifact_id) == f"still working {n}"


async def inject_until_success(
    arts: Any, context: satchel.Context, faulty: FaultyOS, save: Save, op: str, err: int
) -> tuple[Any, int, int]:
    """Fail the N-th ``op`` for N = 1, 2, ... until the save succeeds.

    Returns the artifact, how many ``op`` calls the successful save made, and N.
    """
    store = store_root(context)
    for n in range(1, MAX_ATTEMPTS):
        before = artifact_count(store)
        faulty.arm(op, n, err)
        try:
            art = await save()
        except satchel.StorageError as exc:
            assert faulty.failed, f"N={n}: a StorageError without an injected fault: {exc}"
            faulty.arm(None)
            assert isinstance(exc, OSError)
            assert exc.errno == err, f"the errno was lost: {exc!r}"
            assert artifact_count(store) == before, f"a failed save (N={n}) was indexed"
            # Every blob file is complete under its digest (stored_blobs checks); temp
            # files may be left as garbage.
            stored_blobs(store)
            await assert_store_works(arts, n)
            continue
        except Exception as exc:
            pytest.fail(f"N={n}: {op} failing with {errno.errorcode[err]} raised {exc!r}")
        assert not faulty.failed, f"N={n}: the {op} failure was swallowed: the save succeeded"
        assert not faulty.unsynced_dirs, (
            f"N={n}: the save was acknowledged while a blob's directory entry was never "
            f"fsynced (an earlier fsync failed): {faulty.unsynced_dirs}"
        )
        calls = faulty.calls.get(op, 0)
        faulty.arm(None)
        return art, calls, n
    pytest.fail(f"the save never completed within {MAX_ATTEMPTS} attempts")


@pytest.mark.parametrize("kind", ["save_file", "save_json", "writer", "ingest_dir"])
@pytest.mark.parametrize(
    ("op", "err"),
    [
        ("write", errno.ENOSPC),
        ("write", errno.EIO),
        ("fsync", errno.ENOSPC),
        ("fsync", errno.EIO),
        ("open", errno.ENOSPC),
        ("fchmod", errno.EIO),
        ("link", errno.EIO),
    ],
)
async def test_nth_call_fails(
    arts: Any,
    context: satchel.Context,
    faulty: FaultyOS,
    tmp_path: Path,
    kind: str,
    op: str,
    err: int,
) -> None:
    save, files = make_saves(arts, tmp_path / "src")[kind]
    art, calls, n = await inject_until_success(arts, context, faulty, save, op, err)
    assert n > 1, f"no {op} call was ever failed"
    assert calls <= n - 1  # fewer when blobs stored by failed attempts are reused
    got = await arts.get_by_id(art.artifact_id)
    assert got is not None
    if art.is_dir:
        assert {f.path: f.sha256 for f in got.files} == files
        root = Path(await arts.as_local_dir(art))
        assert {k: sha((root / k).read_bytes()) for k in files} == files
    else:
        (digest,) = files.values()
        assert sha(await arts.load_bytes_by_id(art.artifact_id)) == digest == got.sha256
    # Blobs that failed attempts left behind are complete and now used by the saved one.
    assert check_layout(store_root(context), allowed_orphans=set()).orphan_blobs == set()


async def test_short_writes_are_completed(
    arts: Any, context: satchel.Context, faulty: FaultyOS, tmp_path: Path
) -> None:
    """``os.write`` may write less than asked; the rest must still be written."""
    faulty.short_writes = 1000
    for kind, (save, files) in make_saves(arts, tmp_path / "src").items():
        art = await save()
        if not art.is_dir:
            (digest,) = files.values()
            assert sha(await arts.load_bytes_by_id(art.artifact_id)) == digest, kind


@pytest.mark.parametrize("which", [1, 2])
async def test_failed_fsync_is_never_success(
    arts: Any, context: satchel.Context, faulty: FaultyOS, tmp_path: Path, which: int
) -> None:
    """fsync of the blob (1) or of its directory (2) fails: the save fails, loudly.

    After a failed fsync of the file, its bytes must not be linked into place (the kernel
    may have dropped them: PostgreSQL's "fsyncgate"); after a failed fsync of the
    directory, the blob's name may not be durable. Either way the next save of the same
    bytes is acknowledged only after the file and its directory entry were fsynced.
    """
    data = random_bytes(3 * CHUNK, f"fsync-{which}")
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    blobs: Any = context.store.blobs
    blob = Path(blobs.blob_path(Digest(hexdigest=sha(data))))
    store = store_root(context)

    faulty.arm("fsync", which, errno.EIO)
    with pytest.raises(satchel.StorageError) as info:
        await arts.save_file(source, kind="checkpoint")
    assert info.value.errno == errno.EIO
    assert faulty.calls["fsync"] == which
    assert artifact_count(store) == 0
    assert await arts.list(level="org") == []
    if which == 1:
        assert not blob.exists(), "a blob whose fsync failed was linked into place"
        assert list(blobs.iter_temp_files()) == []

    faulty.arm(None)
    art = await arts.save_file(source, kind="checkpoint")
    assert sha(await arts.load_bytes_by_id(art.artifact_id)) == sha(data)
    assert blob.exists() and sha(blob.read_bytes()) == sha(data)
    if which == 1:
        assert faulty.calls.get("write", 0) >= 3, "the bytes were not written afresh"
        assert any(p.startswith(str(blobs.tmp_dir)) for p in faulty.fsynced)
    assert str(blob.parent) in faulty.fsynced, (
        f"the save was acknowledged without fsyncing {blob.parent} after its earlier "
        f"fsync failed (fsynced: {faulty.fsynced})"
    )
    assert not faulty.unsynced_dirs


async def test_no_hard_links_falls_back_to_rename(
    arts: Any, context: satchel.Context, faulty: FaultyOS, tmp_path: Path
) -> None:
    """A file system without hard links (EPERM) still stores blobs, durably."""
    faulty.arm("link", 1, errno.EPERM)
    save, files = make_saves(arts, tmp_path / "src")["save_file"]
    art = await save()
    assert faulty.failed
    (digest,) = files.values()
    assert sha(await arts.load_bytes_by_id(art.artifact_id)) == digest
    assert not faulty.unsynced_dirs
    assert list(context.store.blobs.iter_temp_files()) == []  # type: ignore[attr-defined]


#: The faults are in the local blob store (the ``settings`` above): once is enough.
only_local = pytest.mark.parametrize("store_kind", ["local"], indirect=True)


@only_local
@pytest.mark.parametrize("kind", ["save_file", "writer", "ingest_dir"])
@pytest.mark.parametrize("err", [errno.EIO, errno.ENOSPC])
async def test_nth_rename_fails_without_hard_links(
    arts: Any, context: satchel.Context, faulty: FaultyOS, tmp_path: Path, kind: str, err: int
) -> None:
    """On a file system without hard links blobs are renamed into place: fail each rename."""
    faulty.refuse["link"] = errno.EPERM
    save, files = make_saves(arts, tmp_path / "src")[kind]
    art, calls, n = await inject_until_success(arts, context, faulty, save, "rename", err)
    assert n > 1, "no rename was ever failed"
    assert calls <= n - 1
    got = await arts.get_by_id(art.artifact_id)
    assert got is not None
    assert {f.path: f.sha256 for f in got.files} == files
    assert check_layout(store_root(context), allowed_orphans=set()).orphan_blobs == set()


@only_local
@pytest.mark.parametrize(
    ("op", "err"),
    [
        ("rename", errno.EIO),
        ("rename", errno.ENOSPC),
        ("link", errno.EIO),
        ("fsync", errno.EIO),
        ("fchmod", errno.EIO),
    ],
)
def test_nth_call_fails_publishing_a_finished_file(
    context: satchel.Context, faulty: FaultyOS, tmp_path: Path, op: str, err: int
) -> None:
    """``take_file`` (the server publishing a staged upload) moves the file in: rename it
    to a temp name, fsync, link into place. Each failure is raised with its errno and
    publishes nothing; the file is then either still there (the caller may try again) or
    gone (the upload starts over), never half-published."""
    store = context.store
    assert store is not None
    data = random_bytes(3 * CHUNK + 11, f"publish-{op}")
    digest = Digest(hexdigest=sha(data))
    blob = Path(store.blobs.blob_path(digest))  # type: ignore[attr-defined]
    root = store_root(context)
    staged = root / "uploads" / "staged.part"
    for n in range(1, MAX_ATTEMPTS):
        staged.parent.mkdir(exist_ok=True)
        if not staged.exists():
            staged.write_bytes(data)
        faulty.arm(op, n, err)
        try:
            stored = store.take_file(staged, digest, len(data))
        except satchel.StorageError as exc:
            assert faulty.failed, f"N={n}: a StorageError without an injected fault: {exc}"
            assert exc.errno == err, f"the errno was lost: {exc!r}"
            # Linked before its directory's fsync failed, a blob is complete (and will be
            # fsynced again before a save is acknowledged); else nothing is published.
            assert not blob.exists() or sha(blob.read_bytes()) == sha(data), f"N={n}"
            assert list(store.blobs.iter_temp_files()) == []  # type: ignore[attr-defined]
            if staged.exists():
                assert sha(staged.read_bytes()) == sha(data)
            continue
        assert not faulty.failed, f"N={n}: the {op} failure was swallowed"
        # Moving the file to a temp name needs no durable name; the blob's link does.
        assert faulty.unsynced_dirs <= {str(root / "tmp")}
        break
    else:
        pytest.fail(f"take_file never completed within {MAX_ATTEMPTS} attempts")
    assert n > 1
    assert stored.digest == digest and stored.inline is None
    assert sha(blob.read_bytes()) == sha(data)
    assert not staged.exists()


class StagingOS:
    """Stands in for the ``os`` module of ``satchel.server.staging``: the ``fail_at``-th call
    of ``op`` (counted from ``arm``) raises ``OSError(err)``."""

    WRAPPED = frozenset({"pwrite", "fsync", "fdatasync", "ftruncate", "open"})

    def __init__(self) -> None:
        self.op: str | None = None
        self.fail_at = 0
        self.err = errno.EIO
        self.calls = 0
        self.failed = False
        self._lock = threading.Lock()

    def arm(self, op: str | None, fail_at: int = 0, err: int = errno.EIO) -> None:
        with self._lock:
            self.op, self.fail_at, self.err, self.calls, self.failed = op, fail_at, err, 0, False

    def __getattr__(self, name: str) -> Any:
        real = getattr(os, name)
        if name not in self.WRAPPED:
            return real

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                hit = False
                if name == self.op:
                    self.calls += 1
                    hit = self.calls == self.fail_at
                    self.failed = self.failed or hit
            if hit:
                raise OSError(self.err, os.strerror(self.err))
            return real(*args, **kwargs)

        return wrapped


@pytest.mark.parametrize("server_kind", ["local"], indirect=True)
@pytest.mark.parametrize(
    ("op", "err", "status", "code"),
    [
        ("pwrite", errno.EIO, 503, "storage_error"),
        ("pwrite", errno.ENOSPC, 507, "insufficient_storage"),
        ("fsync", errno.EIO, 503, "storage_error"),
        ("fdatasync", errno.EIO, 503, "storage_error"),
        ("ftruncate", errno.EIO, 503, "storage_error"),
    ],
)
async def test_nth_call_of_the_servers_staging_fails(
    app: Any,
    world: Any,
    monkeypatch: pytest.MonkeyPatch,
    op: str,
    err: int,
    status: int,
    code: str,
) -> None:
    """A chunk upload whose N-th ``op`` in the staging area fails answers a JSON error
    with a stable code (never a 200, never a bare 500); what the server then says it holds
    is what it holds; the upload resumes from there and completes whole."""
    import satchel.server.staging as staging_module  # noqa: PLC0415
    from serverkit import create  # noqa: PLC0415

    fake = StagingOS()
    monkeypatch.setattr(staging_module, "os", fake)
    world.member("owner", "a")
    piece = CHUNK  # a chunk is one pwrite (the staging area writes up to 1 MiB at once)
    async with world.client("owner") as http:
        for n in range(1, MAX_ATTEMPTS):
            # New bytes each time: bytes the organisation holds complete at creation.
            data = random_bytes(3 * CHUNK + 7, f"staging-{op}-{n}")
            made = await create(http, {"w.bin": data}, inline=False)
            route = f"/api/v1/artifacts/{made['artifact_id']}/uploads/w.bin"
            fake.arm(op, n, err)
            offset, answer = 0, None
            while offset < len(data):
                answer = await http.put(
                    route, params={"offset": offset}, content=data[offset : offset + piece]
                )
                if answer.status_code != 200:
                    break
                offset = answer.json()["received"]
            fake.arm(None)
            assert answer is not None
            if answer.status_code == 200:
                assert not fake.failed, f"N={n}: the failure was swallowed"
                assert answer.json()["artifact_status"] == "completed"
                break
            assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)
            received = (await http.get(route)).json()["received"]
            # Nothing of the failed chunk counts; unless only the fsync of its record failed
            # (``fdatasync``), after its bytes were fsynced: the server may then say it
            # holds them, and it does (the final digest checks them).
            whole = min(offset + piece, len(data))
            assert received == offset or (op == "fdatasync" and received == whole), received
            done = False
            while not done:  # an empty chunk at the end completes a file staged whole
                resumed = await http.put(
                    route, params={"offset": received}, content=data[received : received + piece]
                )
                assert resumed.status_code == 200, resumed.text
                received = resumed.json()["received"]
                done = resumed.json()["artifact_status"] == "completed"
            got = await http.get(f"/api/v1/artifacts/{made['artifact_id']}/files/w.bin")
            assert sha(got.content) == sha(data)
        else:
            pytest.fail(f"the upload never completed within {MAX_ATTEMPTS} attempts")
    assert n > 1, f"no {op} was ever failed"
