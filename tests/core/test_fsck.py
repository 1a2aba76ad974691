"""``satchel.fsck`` on every backend pair: clean stores pass, each kind of damage is found and
names the artifact, and collectable garbage is a warning, never damage."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import satchel
from conftest import CONTEXT_FIELDS
from satchel.blob_reads import BACKLOG, BlobReads
from satchel.config import Settings
from satchel.errors import ValidationError
from satchel.fsck import ReadSubset, fsck, parse_read_subset
from satchel.hashing import Digest, digest_bytes
from satchel.index import ArtifactWrite
from satchel.models import Artifact, ArtifactFile, new_id
from satchel.storage import BlobStore
from satchel.storage.local import LocalBlobStore
from satchel.storage.memory import MemoryBlobStore
from satchel.storage.s3 import S3BlobStore
from satchel.store import ArtifactStore

PAIRS = ["local", "memory+sqlite", "s3+postgres"]


@pytest.fixture(params=PAIRS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def ctx(settings: Settings) -> Iterator[satchel.Context]:
    with satchel.Context(settings=settings, **CONTEXT_FIELDS) as context:
        yield context


def big(settings: Settings, char: str) -> str:
    return char * (settings.inline_max + 100)  # past the inline limit: a blob of its own


def blob_bytes(blobs: BlobStore, digest: Digest) -> bytes:
    out = bytearray()
    buffer = bytearray(1 << 16)
    with blobs.open_read(digest) as reader:
        while n := reader.readinto(buffer):
            out += buffer[:n]
    return bytes(out)


def replace_blob(blobs: BlobStore, digest: Digest, data: bytes) -> None:
    """Overwrite a stored blob's bytes under the same key, as damage on disk would."""
    if isinstance(blobs, LocalBlobStore):
        path = blobs.blob_path(digest)
        os.chmod(path, 0o644)
        path.write_bytes(data)
    elif isinstance(blobs, MemoryBlobStore):
        blobs.corrupt(digest, data)
    else:
        assert isinstance(blobs, S3BlobStore)
        blobs.put_small(digest, data, replace=True)


def flip(blobs: BlobStore, digest: Digest) -> None:
    data = bytearray(blob_bytes(blobs, digest))
    data[len(data) // 2] ^= 0x01
    replace_blob(blobs, digest, bytes(data))


def put_orphan(blobs: BlobStore, data: bytes) -> Digest:
    digest = digest_bytes(data)
    sink = blobs.open_sink()
    sink.write(data)
    sink.commit(digest)
    return digest


def save_pending(store: ArtifactStore, *, updated: datetime, data: bytes) -> Artifact:
    """A pending artifact (an upload begun), its one file already stored as a blob."""
    digest = put_orphan(store.blobs, data)
    artifact = Artifact(
        artifact_id=new_id(),
        name="upload",
        status="pending",
        sha256=digest.hexdigest,
        bytes=len(data),
        created_at=updated,
        updated_at=updated,
        org_id="o1",
        user_id="u1",
        files=[ArtifactFile(path="data.bin", sha256=digest.hexdigest, bytes=len(data))],
    )
    store.index.commit_writes([ArtifactWrite(artifact=artifact)])
    return artifact


def test_a_fresh_store_with_saves_is_clean(ctx: satchel.Context, settings: Settings) -> None:
    arts = ctx.sync_artifacts()
    arts.save_text(big(settings, "a"), name="large")
    arts.save_text("small", name="inline")
    arts.save_text(big(settings, "a"), name="same-bytes")
    arts.save_text("", name="empty")
    for read_data in (False, True):
        report = fsck(ctx.store, read_data=read_data)
        assert report.ok, report.damage
        assert report.warnings == []
        assert (report.artifacts, report.files, report.blobs_checked) == (4, 4, 3)
    assert report.bytes_read == len(big(settings, "a")) + len("small")  # each blob once


def test_a_flipped_byte_is_found_by_read_data_only(
    ctx: satchel.Context, settings: Settings
) -> None:
    arts = ctx.sync_artifacts()
    damaged = arts.save_text(big(settings, "f"), name="damaged")
    sound = arts.save_text(big(settings, "s"), name="sound")
    assert damaged.sha256 and sound.sha256
    flip(ctx.store.blobs, Digest(hexdigest=damaged.sha256))
    assert fsck(ctx.store).ok  # same size: the quick check cannot tell
    report = fsck(ctx.store, read_data=True)
    assert not report.ok
    assert report.damaged_artifacts == [damaged.artifact_id]
    (found,) = report.damage
    assert (found.path, found.sha256, found.problem) == (
        damaged.files[0].path,
        damaged.sha256,
        "digest",
    )


@pytest.mark.parametrize("how", ["truncated", "missing"])
def test_a_truncated_or_missing_blob_is_found_by_the_quick_check(
    ctx: satchel.Context, settings: Settings, how: str
) -> None:
    arts = ctx.sync_artifacts()
    damaged = arts.save_text(big(settings, "t"), name="damaged")
    again = arts.save_text(big(settings, "t"), name="same bytes, also damaged")
    arts.save_text(big(settings, "s"), name="sound")
    assert damaged.sha256
    digest = Digest(hexdigest=damaged.sha256)
    if how == "truncated":
        replace_blob(ctx.store.blobs, digest, blob_bytes(ctx.store.blobs, digest)[:-7])
    else:
        assert ctx.store.blobs.delete(digest)
    for read_data in (False, True):
        report = fsck(ctx.store, read_data=read_data)
        assert {(d.artifact_id, d.path) for d in report.damage} == {
            (a.artifact_id, a.files[0].path) for a in (damaged, again)
        }
        assert {d.problem for d in report.damage} == {"size" if how == "truncated" else "missing"}


def test_missing_inline_bytes_are_damage(ctx: satchel.Context) -> None:
    small = ctx.sync_artifacts().save_text("tiny", name="small")
    assert small.sha256
    store = ctx.store
    # Drop the inline row the way a damaged index would lose it.
    from sqlalchemy import delete  # noqa: PLC0415

    from satchel.index.schema import inline_blobs  # noqa: PLC0415
    from satchel.index.sql import SqlIndex  # noqa: PLC0415

    assert isinstance(store.index, SqlIndex)
    with store.index.write_transaction() as conn:
        conn.execute(delete(inline_blobs).where(inline_blobs.c.sha256 == small.sha256))
    report = fsck(store)
    assert report.damaged_artifacts == [small.artifact_id]
    assert report.damage[0].problem == "missing"


def test_orphans_leftovers_and_stale_pending_are_warnings(ctx: satchel.Context) -> None:
    store = ctx.store
    ctx.sync_artifacts().save_text("kept", name="kept")
    orphan = put_orphan(store.blobs, b"nobody references these bytes" * 100)
    old = datetime.now(UTC) - timedelta(days=3)
    stale = save_pending(store, updated=old, data=b"an upload begun long ago" * 100)
    fresh = save_pending(store, updated=datetime.now(UTC), data=b"an upload in flight" * 100)
    # A file of an upload still to come has no bytes yet: not damage.
    to_come = b"bytes not sent yet" * 2000
    store.index.commit_writes(
        [
            ArtifactWrite(
                artifact=Artifact(
                    artifact_id=new_id(),
                    status="pending",
                    created_at=datetime.now(UTC),
                    updated_at=datetime.now(UTC),
                    files=[
                        ArtifactFile(
                            path="later.bin",
                            sha256=digest_bytes(to_come).hexdigest,
                            bytes=len(to_come),
                            status="pending",
                        )
                    ],
                )
            )
        ]
    )
    report = fsck(store, read_data=True)
    assert report.ok, report.damage
    kinds = {(w.kind, w.key) for w in report.warnings}
    assert ("orphan_blob", orphan.hexdigest) in kinds
    assert ("stale_pending", stale.artifact_id) in kinds
    assert ("stale_pending", fresh.artifact_id) not in kinds
    assert len(report.warnings) == 2
    assert report.to_dict()["warnings"][0]["kind"] in {"orphan_blob", "stale_pending"}


def test_file_rows_are_read_in_pages(ctx: satchel.Context, settings: Settings) -> None:
    arts = ctx.sync_artifacts()
    saved = [arts.save_text(big(settings, chr(65 + i)), name=f"a{i}") for i in range(5)]
    assert saved[3].sha256
    assert ctx.store.blobs.delete(Digest(hexdigest=saved[3].sha256))
    report = fsck(ctx.store, page=2)
    assert (report.artifacts, report.files) == (5, 5)
    assert report.damaged_artifacts == [saved[3].artifact_id]


def test_the_read_data_subsets_partition_the_blobs(
    ctx: satchel.Context, settings: Settings
) -> None:
    """Subsets 1/M..M/M read each blob exactly once between them: every flipped blob is
    found by exactly the subset holding it (by digest), and their reads add up to one
    ``--read-data``; a percentage reads a share, 100% all of it."""
    arts = ctx.sync_artifacts()
    saved = [arts.save_text(big(settings, chr(65 + i)), name=f"a{i}") for i in range(12)]
    twin = arts.save_text(big(settings, "A"), name="same bytes as a0")
    small = arts.save_text("small, kept inline", name="inline")
    for a in saved:
        assert a.sha256
        flip(ctx.store.blobs, Digest(hexdigest=a.sha256))
    full = fsck(ctx.store, read_data=True)
    assert len(full.damaged_artifacts) == 13
    m = 3
    found: list[str] = []
    bytes_read = 0
    for n in range(1, m + 1):
        report = fsck(ctx.store, read_subset=f"{n}/{m}")
        assert report.read_subset == f"{n}/{m}" and not report.read_data
        assert report.blobs_checked == full.blobs_checked
        wanted = {
            a.artifact_id for a in [*saved, twin] if a.sha256 and int(a.sha256[:8], 16) % m == n - 1
        }
        assert set(report.damaged_artifacts) == wanted
        found += report.damaged_artifacts
        # The inline file is checked (and counted) by every run: its bytes are in hand.
        bytes_read += report.bytes_read - small.bytes
    assert sorted(found) == sorted(full.damaged_artifacts)  # each once, none left out
    assert bytes_read == full.bytes_read - small.bytes
    assert set(fsck(ctx.store, read_subset="100%").damaged_artifacts) == set(full.damaged_artifacts)
    share = fsck(ctx.store, read_subset="0.01%")
    assert share.read_subset == "0.01%"
    assert set(share.damaged_artifacts) <= set(full.damaged_artifacts)


@pytest.mark.parametrize(
    "spec", ["0/0", "3/2", "0/3", "1/0", "junk", "", "1/", "/2", "-1/2", "0%", "101%", "x%"]
)
def test_a_malformed_read_data_subset_is_a_validation_error(spec: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_read_subset(spec)
    assert caught.value.code == "validation_error"
    assert spec in str(caught.value)


def test_read_data_subset_forms() -> None:
    assert parse_read_subset("2/5") == ReadSubset("2/5", n=2, m=5)
    assert parse_read_subset(" 1/1 ").m == 1
    assert parse_read_subset("10%").percent == 10.0
    assert parse_read_subset("2.5%").percent == 2.5


def test_a_blob_that_cannot_be_read_is_unreadable(ctx: satchel.Context, settings: Settings) -> None:
    art = ctx.sync_artifacts().save_text(big(settings, "u"), name="unreadable")
    assert art.sha256
    blobs = ctx.store.blobs
    if not isinstance(blobs, LocalBlobStore):
        return  # a blob that exists yet cannot be opened: a file store's damage
    path = blobs.blob_path(Digest(hexdigest=art.sha256))
    path.unlink()
    path.mkdir()  # opening it fails with EISDIR
    report = fsck(ctx.store, read_data=True)
    assert report.damaged_artifacts == [art.artifact_id]
    assert report.damage[0].problem == "unreadable"
    assert report.damage[0].detail.startswith("storage_error: ")


class _BrokenReads(MemoryBlobStore):
    """A store whose reads fail with a bug (not a SatchelError) after ``good`` blobs."""

    def __init__(self, good: int) -> None:
        super().__init__()
        self.good = good

    def open_read(self, digest: Digest) -> Any:
        if self.good == 0:
            raise RuntimeError("a bug in the store")
        self.good -= 1
        return super().open_read(digest)


@pytest.mark.parametrize("jobs", [3, BACKLOG * 3])
def test_a_failing_reader_thread_reaches_the_caller(jobs: int) -> None:
    """``BlobReads``: a bug in a reading thread is raised to the caller (from ``submit`` or
    ``drain``), never a hang nor a silent result."""
    store = _BrokenReads(good=1)
    digests = [put_orphan(store, f"blob {i}".encode() * 100) for i in range(jobs)]
    results = []
    with pytest.raises(RuntimeError, match="a bug in the store"), BlobReads(store) as reads:
        for i, digest in enumerate(digests):
            reads.submit(digest, str(i))
            results += reads.done()
        results += reads.drain()
    assert [r.key for r in results] in ([], ["0"])
    assert all(r.sha256 == digest_bytes(b"blob 0" * 100).hexdigest for r in results)
