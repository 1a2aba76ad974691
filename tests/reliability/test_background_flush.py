"""Background writeback (``fdatasync`` during a large blob write) fails loudly (P10).

After a failed fsync the kernel may drop the dirty pages and report success on the next
fsync ("fsyncgate"), so a failed background flush must fail the save itself.
"""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

import satchel
from satchel.storage import local


def _failing_on(call: int, real: object) -> object:
    calls = {"n": 0}

    def fdatasync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == call:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(fd)  # type: ignore[operator]

    fdatasync.calls = calls  # type: ignore[attr-defined]
    return fdatasync


def test_failed_background_flush_fails_the_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first background flush fails; the final fsync at commit is real and succeeds,
    # which is exactly when a store that forgot the earlier failure would report success.
    # (Only the first flush is certain to happen: later ones depend on timing.)
    failing_call = 1
    monkeypatch.setattr(local, "FLUSH_EVERY", 256 * 1024)
    monkeypatch.setenv("SATCHEL_CHUNK_SIZE", str(128 * 1024))
    fake = _failing_on(failing_call, os.fdatasync)
    monkeypatch.setattr(os, "fdatasync", fake)
    data = os.urandom(2 * 1024 * 1024)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    with satchel.Context(store=tmp_path / "store", run_id="r1") as ctx:
        arts = ctx.sync_artifacts()
        with pytest.raises(satchel.StorageError) as caught:
            arts.save_file(source, kind="checkpoint")
        assert caught.value.errno == errno.EIO
        assert fake.calls["n"] >= failing_call  # type: ignore[attr-defined]
        assert arts.list() == []
        blob = ctx.store.home / "blobs" / "sha256" / digest[:2] / digest[2:]
        assert not blob.exists()
    monkeypatch.undo()
    with satchel.Context(store=tmp_path / "store", run_id="r2") as ctx:
        saved = ctx.sync_artifacts().save_file(source, kind="checkpoint")
        assert saved.sha256 == digest
        assert ctx.sync_artifacts().load_bytes_by_id(saved.artifact_id) == data


def test_background_flush_runs_for_large_blobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local, "FLUSH_EVERY", 256 * 1024)
    fake = _failing_on(-1, os.fdatasync)
    monkeypatch.setattr(os, "fdatasync", fake)
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(2 * 1024 * 1024))
    with satchel.Context(store=tmp_path / "store", run_id="r1") as ctx:
        ctx.sync_artifacts().save_file(source, kind="checkpoint")
    assert fake.calls["n"] >= 1  # type: ignore[attr-defined]
