"""``LocalBlobStore.adopt_file`` (the ``FileAdoption`` ability): a finished file moves in."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pytest

from satchel.config import Settings
from satchel.errors import ConflictError, StorageError
from satchel.hashing import digest_bytes
from satchel.storage import FileAdoption
from satchel.storage.local import LocalBlobStore
from satchel.store import ArtifactStore


def test_a_file_moves_in_once(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "store")
    assert isinstance(store, FileAdoption)
    data = os.urandom(100_000)
    digest = digest_bytes(data)
    first = tmp_path / "first"
    first.write_bytes(data)
    assert store.adopt_file(first, digest) is True
    assert not first.exists()
    assert store.blob_path(digest).read_bytes() == data
    assert store.blob_path(digest).stat().st_mode & 0o777 == 0o444
    again = tmp_path / "again"
    again.write_bytes(data)
    assert store.adopt_file(again, digest) is False
    assert list(store.iter_temp_files()) == []


def test_take_file_checks_then_moves_or_copies(tmp_path: Path) -> None:
    settings = Settings.load(environ={}, home=str(tmp_path / "home"))
    store = ArtifactStore.open(settings)
    try:
        data = os.urandom(200_000)
        digest = digest_bytes(data)
        staged = tmp_path / "staged"
        staged.write_bytes(data)
        with pytest.raises(ConflictError):
            store.take_file(staged, digest_bytes(b"other"), len(data))
        assert staged.exists()  # refused: left where it was, nothing published
        assert store.blobs.stat(digest) is None
        assert store.take_file(staged, digest, len(data)).inline is None
        assert store.blobs.stat(digest) == len(data)
        # Another file system (tmpfs): the move fails with EXDEV, the bytes are copied.
        with tempfile.TemporaryDirectory(dir="/dev/shm") as shm:
            other = Path(shm) / "other"
            other.write_bytes(data[::-1])
            assert os.stat(shm).st_dev != os.stat(tmp_path).st_dev
            assert isinstance(store.blobs, LocalBlobStore)
            with pytest.raises(StorageError) as moved:
                store.blobs.adopt_file(other, digest_bytes(data[::-1]))
            assert moved.value.errno == errno.EXDEV
            store.take_file(other, digest_bytes(data[::-1]), len(data))
            assert other.exists()
        assert store.blobs.stat(digest_bytes(data[::-1])) == len(data)
    finally:
        store.close()
