"""Conformance suite for the ``BlobStore`` Protocol (``satchel.storage.base``).

Every test here runs on every backend of the ``blob_store`` fixture and talks to the store
only through the Protocol, so a new backend (S3) joins by adding itself to the fixture. The
tests at the end are local-only: they pin how ``LocalBlobStore`` lays blobs out on disk and
are parametrised onto the local backend alone.
"""

from __future__ import annotations

import array
import hashlib
import os
import stat
import threading
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from satchel.errors import NotFoundError, StorageError, ValidationError
from satchel.hashing import Digest
from satchel.storage import BlobGarbage, BlobStore, GarbageItem, LocalBlobPaths
from satchel.storage.layout import blob_key
from satchel.storage.local import LocalBlobStore


def digest_of(data: bytes) -> Digest:
    return Digest(hexdigest=hashlib.sha256(data).hexdigest())


def put(store: BlobStore, data: bytes, *, piece: int = 0) -> tuple[Digest, bool]:
    """Write ``data`` through a sink (in pieces of ``piece`` bytes if given) and commit it."""
    digest = digest_of(data)
    sink = store.open_sink()
    if piece:
        for start in range(0, len(data), piece):
            sink.write(data[start : start + piece])
    else:
        sink.write(data)
    return digest, sink.commit(digest)


def read_all(store: BlobStore, digest: Digest, *, buffer_size: int = 64 * 1024) -> bytes:
    """Read a blob back through ``readinto`` with a fixed buffer, as the store layer does."""
    out = bytearray()
    buffer = bytearray(buffer_size)
    with store.open_read(digest) as reader:
        while True:
            n = reader.readinto(buffer)
            assert 0 <= n <= buffer_size
            if n == 0:
                break
            out += buffer[:n]
    return bytes(out)


def listed(store: BlobStore) -> dict[Digest, int]:
    items = list(store.iter_blobs())
    result = dict(items)
    assert len(result) == len(items), "iter_blobs yielded a blob twice"
    return result


# -- sink: write and commit -----------------------------------------------------------------


def test_commit_stores_new_blob_and_returns_true(blob_store: BlobStore) -> None:
    data = b"hello, satchel\n" * 100
    digest, created = put(blob_store, data)
    assert created is True
    assert blob_store.stat(digest) == len(data)
    assert read_all(blob_store, digest) == data


def test_commit_of_present_digest_is_put_if_absent(blob_store: BlobStore) -> None:
    data = os.urandom(5000)
    digest, first = put(blob_store, data)
    _, second = put(blob_store, data, piece=1000)
    assert (first, second) == (True, False)
    assert listed(blob_store) == {digest: len(data)}
    assert read_all(blob_store, digest) == data


def test_sink_accepts_bytes_bytearray_and_memoryview(blob_store: BlobStore) -> None:
    parts = [b"abc", bytearray(b"def"), memoryview(b"xxghixx")[2:5]]
    data = b"abcdefghi"
    digest = digest_of(data)
    sink = blob_store.open_sink()
    for part in parts:
        sink.write(part)
    assert sink.commit(digest) is True
    assert read_all(blob_store, digest) == data


def test_sink_counts_bytes_of_wide_item_buffers(blob_store: BlobStore) -> None:
    # A memoryview of 4-byte ints has len() == items; the blob is its bytes.
    items = array.array("i", range(-500, 500))
    data = items.tobytes()
    digest = digest_of(data)
    sink = blob_store.open_sink()
    sink.write(memoryview(items))
    sink.write(memoryview(items)[10:20])
    expected = data + items[10:20].tobytes()
    assert sink.commit(digest_of(expected)) is True
    assert blob_store.stat(digest_of(expected)) == len(expected)
    assert read_all(blob_store, digest_of(expected)) == expected
    assert blob_store.stat(digest) is None


def test_many_writes_make_one_blob_in_order(blob_store: BlobStore) -> None:
    data = os.urandom(1024 * 1024 + 123)
    digest, created = put(blob_store, data, piece=64 * 1024 - 1)
    assert created
    assert blob_store.stat(digest) == len(data)
    assert read_all(blob_store, digest, buffer_size=100_000) == data


def test_empty_blob(blob_store: BlobStore) -> None:
    digest = digest_of(b"")
    sink = blob_store.open_sink()
    assert sink.commit(digest) is True
    assert blob_store.stat(digest) == 0
    assert read_all(blob_store, digest) == b""
    assert listed(blob_store) == {digest: 0}
    assert blob_store.open_sink().commit(digest) is False


# -- sink: abort and closed sinks -------------------------------------------------------


def test_abort_leaves_nothing_visible(blob_store: BlobStore) -> None:
    data = os.urandom(3000)
    digest = digest_of(data)
    sink = blob_store.open_sink()
    sink.write(data)
    sink.abort()
    assert blob_store.stat(digest) is None
    assert listed(blob_store) == {}
    with pytest.raises(NotFoundError):
        blob_store.open_read(digest)


def test_abort_is_idempotent(blob_store: BlobStore) -> None:
    sink = blob_store.open_sink()
    sink.write(b"x")
    sink.abort()
    sink.abort()
    assert listed(blob_store) == {}


def test_uncommitted_sink_is_invisible(blob_store: BlobStore) -> None:
    data = b"in flight"
    digest = digest_of(data)
    sink = blob_store.open_sink()
    sink.write(data)
    try:
        assert blob_store.stat(digest) is None
        assert listed(blob_store) == {}
    finally:
        sink.abort()


def test_write_after_abort_fails(blob_store: BlobStore) -> None:
    sink = blob_store.open_sink()
    sink.write(b"abc")
    sink.abort()
    with pytest.raises(StorageError):
        sink.write(b"more")
    with pytest.raises(StorageError):
        sink.commit(digest_of(b"abc"))
    assert listed(blob_store) == {}


def test_write_after_commit_fails(blob_store: BlobStore) -> None:
    data = b"committed"
    digest = digest_of(data)
    sink = blob_store.open_sink()
    sink.write(data)
    assert sink.commit(digest)
    with pytest.raises(StorageError):
        sink.write(b"more")
    with pytest.raises(StorageError):
        sink.commit(digest)
    assert read_all(blob_store, digest) == data


def test_abort_after_commit_keeps_the_blob(blob_store: BlobStore) -> None:
    # The store layer aborts a sink in its error path even after commit; that must not
    # remove bytes that are already durable and maybe referenced.
    data = b"keep me"
    digest, created = put(blob_store, data)
    assert created
    sink = blob_store.open_sink()
    sink.write(data)
    assert sink.commit(digest) is False
    sink.abort()
    assert read_all(blob_store, digest) == data


# -- stat, open_read, delete --------------------------------------------------------------


def test_stat_of_absent_blob_is_none(blob_store: BlobStore) -> None:
    assert blob_store.stat(digest_of(b"never stored")) is None


def test_open_read_of_absent_blob_raises_not_found(blob_store: BlobStore) -> None:
    with pytest.raises(NotFoundError):
        blob_store.open_read(digest_of(b"never stored"))
    # NotFoundError is also a FileNotFoundError, for callers that catch the builtin.
    with pytest.raises(FileNotFoundError):
        blob_store.open_read(digest_of(b"never stored"))


def test_readinto_fills_small_buffers_exactly(blob_store: BlobStore) -> None:
    data = bytes(range(256)) * 3 + b"tail"
    digest, _ = put(blob_store, data)
    for size in (1, 7, 256, len(data), len(data) + 1):
        assert read_all(blob_store, digest, buffer_size=size) == data


def test_readinto_memoryview_and_repeated_end(blob_store: BlobStore) -> None:
    data = b"0123456789"
    digest, _ = put(blob_store, data)
    buffer = bytearray(16)
    reader = blob_store.open_read(digest)
    try:
        n = reader.readinto(memoryview(buffer)[4:8])
        assert n == 4
        assert buffer[4:8] == b"0123"
        rest = bytearray(100)
        assert reader.readinto(rest) == 6
        assert rest[:6] == b"456789"
        assert reader.readinto(rest) == 0
        assert reader.readinto(rest) == 0
    finally:
        reader.close()


def test_two_readers_are_independent(blob_store: BlobStore) -> None:
    data = b"abcdefgh"
    digest, _ = put(blob_store, data)
    first = blob_store.open_read(digest)
    second = blob_store.open_read(digest)
    try:
        a, b = bytearray(3), bytearray(8)
        assert first.readinto(a) == 3
        assert second.readinto(b) == 8
        assert (bytes(a), bytes(b)) == (b"abc", data)
    finally:
        first.close()
        second.close()


def test_delete(blob_store: BlobStore) -> None:
    keep, _ = put(blob_store, b"keep")
    gone, _ = put(blob_store, b"gone")
    assert blob_store.delete(gone) is True
    assert blob_store.delete(gone) is False
    assert blob_store.stat(gone) is None
    with pytest.raises(NotFoundError):
        blob_store.open_read(gone)
    assert listed(blob_store) == {keep: 4}
    assert read_all(blob_store, keep) == b"keep"


def test_delete_of_absent_blob_is_false(blob_store: BlobStore) -> None:
    assert blob_store.delete(digest_of(b"never stored")) is False


def test_commit_after_delete_stores_again(blob_store: BlobStore) -> None:
    digest, _ = put(blob_store, b"again")
    assert blob_store.delete(digest)
    _, created = put(blob_store, b"again")
    assert created is True
    assert read_all(blob_store, digest) == b"again"


# -- listing and URIs -----------------------------------------------------------------------


def test_iter_blobs_of_empty_store(blob_store: BlobStore) -> None:
    assert listed(blob_store) == {}


def test_iter_blobs_lists_exactly_what_was_committed(blob_store: BlobStore) -> None:
    expected: dict[Digest, int] = {}
    for size in (0, 1, 10, 4096, 70_000):
        data = os.urandom(size)
        digest, created = put(blob_store, data)
        assert created
        expected[digest] = size
    aborted = blob_store.open_sink()
    aborted.write(b"aborted bytes")
    aborted.abort()
    assert listed(blob_store) == expected
    for digest in expected:
        assert isinstance(digest, Digest)


def test_blob_uri(blob_store: BlobStore) -> None:
    one, _ = put(blob_store, b"one")
    two = digest_of(b"two")  # a URI is a location; it needs no stored blob
    uri_one, uri_two = blob_store.blob_uri(one), blob_store.blob_uri(two)
    assert uri_one != uri_two
    for digest, uri in ((one, uri_one), (two, uri_two)):
        assert urlsplit(uri).scheme == urlsplit(blob_store.url).scheme != ""
        assert uri.endswith("/" + blob_key(digest))
    assert blob_store.blob_uri(one) == uri_one


# -- concurrency ------------------------------------------------------------------------------


def race_commits(store: BlobStore, data: bytes, threads_count: int) -> list[bool]:
    """Many threads write the same bytes, then all commit at once; the commit results."""
    digest = digest_of(data)
    barrier = threading.Barrier(threads_count)
    results: list[bool] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            sink = store.open_sink()
            for start in range(0, len(data), 16 * 1024):
                sink.write(data[start : start + 16 * 1024])
            barrier.wait()
            created = sink.commit(digest)
            with lock:
                results.append(created)
        except BaseException as exc:
            with lock:
                errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


def test_threads_committing_same_digest_store_it_once(blob_store: BlobStore) -> None:
    threads_count = 12
    rounds = 4  # a check-then-act race shows up only now and then: try a few times
    for _ in range(rounds):
        data = os.urandom(100_000)
        results = race_commits(blob_store, data, threads_count)
        assert len(results) == threads_count
        assert results.count(True) == 1, f"put-if-absent: exactly one commit stores: {results}"
        assert listed(blob_store)[digest_of(data)] == len(data)
        assert read_all(blob_store, digest_of(data)) == data
    assert len(listed(blob_store)) == rounds


# -- the optional BlobGarbage ability (local and S3) ----------------------------------------


@pytest.mark.parametrize("blob_store", ["local", "s3"], indirect=True)
def test_finished_writes_leave_no_garbage(blob_store: BlobStore) -> None:
    assert isinstance(blob_store, BlobGarbage)
    put(blob_store, b"committed " * 3000)
    put(blob_store, b"committed " * 3000)
    aborted = blob_store.open_sink()
    aborted.write(b"aborted " * 3000)
    aborted.abort()
    assert list(blob_store.iter_garbage(older_than=timedelta(0))) == []


# -- local-only: the on-disk layout of LocalBlobStore ------------------------------------------

local_only = pytest.mark.parametrize("blob_store", ["local"], indirect=True)


@local_only
def test_local_blob_sits_at_its_key_read_only(blob_store: BlobStore) -> None:
    assert isinstance(blob_store, LocalBlobStore)
    assert isinstance(blob_store, LocalBlobPaths)
    data = b"on disk"
    digest, _ = put(blob_store, data)
    path = blob_store.root / "blobs" / blob_key(digest)
    assert blob_store.blob_path(digest) == path
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert blob_store.blob_uri(digest) == path.as_uri()
    assert blob_store.url == blob_store.root.as_uri()


@local_only
def test_local_abandoned_temp_file_is_garbage(blob_store: BlobStore) -> None:
    assert isinstance(blob_store, LocalBlobStore)
    now = timedelta(0)
    abandoned = blob_store.open_sink()
    abandoned.write(b"left behind by a crash")
    items = list(blob_store.iter_garbage(older_than=now))
    assert [i.kind for i in items] == ["temp_file"]
    assert items[0].key.startswith("tmp/")
    assert list(blob_store.iter_garbage(older_than=timedelta(hours=1))) == []
    assert blob_store.remove_garbage(items[0]) is True
    assert blob_store.remove_garbage(items[0]) is False
    assert list(blob_store.iter_garbage(older_than=now)) == []
    forged = GarbageItem(
        kind="temp_file", key="tmp/../blobs/x.part", created_at=items[0].created_at
    )
    with pytest.raises(ValidationError):
        blob_store.remove_garbage(forged)
    abandoned.abort()


@local_only
def test_local_no_temp_files_left(blob_store: BlobStore) -> None:
    assert isinstance(blob_store, LocalBlobStore)
    data = os.urandom(2000)
    sink = blob_store.open_sink()
    sink.write(data)
    assert len(list(blob_store.iter_temp_files())) == 1  # in flight
    sink.commit(digest_of(data))
    assert list(blob_store.iter_temp_files()) == []

    put(blob_store, data)  # already present: the duplicate's temp file goes too
    assert list(blob_store.iter_temp_files()) == []

    aborted = blob_store.open_sink()
    aborted.write(b"abort")
    aborted.abort()
    assert list(blob_store.iter_temp_files()) == []
    assert list(blob_store.tmp_dir.iterdir()) == []


@local_only
def test_local_concurrent_commits_leave_no_temp_files(blob_store: BlobStore) -> None:
    assert isinstance(blob_store, LocalBlobStore)
    data = os.urandom(10_000)
    digest = digest_of(data)
    barrier = threading.Barrier(8)

    def worker() -> None:
        sink = blob_store.open_sink()
        sink.write(data)
        barrier.wait()
        sink.commit(digest)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert list(blob_store.iter_temp_files()) == []
    assert blob_store.blob_path(digest).read_bytes() == data


@local_only
def test_local_iter_blobs_ignores_foreign_files(blob_store: BlobStore) -> None:
    assert isinstance(blob_store, LocalBlobStore)
    digest, _ = put(blob_store, b"real")
    fanout = blob_store.root / "blobs" / "sha256" / "ab"
    (fanout / "not-a-digest").write_bytes(b"junk")
    (fanout / ("A" * 62)).write_bytes(b"junk")
    assert listed(blob_store) == {digest: 4}


@local_only
def test_local_store_reopens_with_its_blobs(blob_store: BlobStore, tmp_path: Path) -> None:
    assert isinstance(blob_store, LocalBlobStore)
    digest, _ = put(blob_store, b"persisted")
    again = LocalBlobStore(blob_store.root)
    try:
        assert again.stat(digest) == len(b"persisted")
        assert read_all(again, digest) == b"persisted"
        _, created = put(again, b"persisted")
        assert created is False
    finally:
        again.close()
