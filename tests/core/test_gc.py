"""``satchel.gc`` on every backend pair: plan, then execute; index rows first, blobs last;
nothing younger than the grace period; never a blob a save in flight found stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from test_fsck import big, put_orphan, save_pending

import satchel
from conftest import CONTEXT_FIELDS
from satchel.config import Settings
from satchel.errors import BlobCollectedError, ValidationError
from satchel.fsck import fsck
from satchel.gc import collect_garbage
from satchel.hashing import Digest, digest_bytes
from satchel.index import ArtifactWrite
from satchel.index.base import BlobCollection, RetentionPolicies
from satchel.models import Artifact, ArtifactFile, format_time, new_id
from satchel.retention import RetentionPolicy
from satchel.storage import BlobGarbage, PartSigner
from satchel.store import ArtifactStore
from storekit import file_write

PAIRS = ["local", "memory+sqlite", "s3+postgres"]
LATER = timedelta(days=2)  # "now" for a collection that finds today's writes old


@pytest.fixture(params=PAIRS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def ctx(settings: Settings) -> Iterator[satchel.Context]:
    with satchel.Context(settings=settings, **CONTEXT_FIELDS) as context:
        yield context


def collection(store: ArtifactStore) -> BlobCollection:
    assert isinstance(store.index, BlobCollection)
    return store.index


def test_plan_then_execute(ctx: satchel.Context, settings: Settings) -> None:
    store = ctx.store
    arts = ctx.sync_artifacts()
    kept = arts.save_text(big(settings, "k"), name="kept")
    small = arts.save_text("small", name="inline")
    orphan = put_orphan(store.blobs, big(settings, "o").encode())
    pending = save_pending(store, updated=datetime.now(UTC), data=big(settings, "p").encode())
    later = datetime.now(UTC) + LATER

    plan = collect_garbage(store, dry_run=True, now=later)
    assert plan.abandoned == [pending.artifact_id]
    assert (plan.orphan_blobs, plan.blobs_removed) == (1, 1)
    assert plan.blob_bytes == settings.inline_max + 100
    assert plan.artifacts_deleted == 0
    before = fsck(store, now=later)
    assert {w.kind for w in before.warnings} == {"orphan_blob", "stale_pending"}
    assert store.blobs.stat(orphan) is not None  # a dry run changes nothing
    assert store.index.get(pending.artifact_id) is None  # pending: never visible anyway

    done = collect_garbage(store, now=later)
    assert done.abandoned == [pending.artifact_id]
    assert done.artifacts_deleted == 1
    assert done.blobs_removed == 2  # the orphan, and the abandoned upload's blob
    assert done.blob_bytes == 2 * (settings.inline_max + 100)
    assert store.blobs.stat(orphan) is None
    assert store.blobs.stat(Digest(hexdigest=pending.sha256 or "")) is None
    after = fsck(store, read_data=True, now=later)
    assert after.ok and after.warnings == []
    assert arts.load_text(kept.uri) == big(settings, "k")
    assert arts.load_text(small.uri) == "small"
    again = collect_garbage(store, now=later)
    assert (again.artifacts_deleted, again.blobs_removed, again.bytes_freed) == (0, 0, 0)


def test_the_grace_period_keeps_young_garbage(ctx: satchel.Context, settings: Settings) -> None:
    store = ctx.store
    orphan = put_orphan(store.blobs, big(settings, "y").encode())
    save_pending(store, updated=datetime.now(UTC), data=b"upload in progress")
    report = collect_garbage(store)  # the default grace: 24 hours
    assert (report.abandoned, report.blobs_removed, report.young_orphans) == ([], 0, 1)
    assert store.blobs.stat(orphan) is not None
    assert collect_garbage(store, grace=timedelta(0)).blobs_removed == 2  # and the upload's


def test_a_negative_grace_is_refused(ctx: satchel.Context) -> None:
    with pytest.raises(ValidationError):
        collect_garbage(ctx.store, grace=timedelta(seconds=-1))


def test_a_pending_upload_of_a_running_run_is_kept(ctx: satchel.Context) -> None:
    store = ctx.store
    ctx.sync_artifacts().save_text("x", name="opens the run")  # the context's run: running
    old = datetime.now(UTC) - LATER
    data = b"still uploading"
    digest = digest_bytes(data)
    pending = Artifact(
        artifact_id=new_id(),
        name="upload",
        status="pending",
        run_id=ctx.run_id,
        sha256=digest.hexdigest,
        bytes=len(data),
        created_at=old,
        updated_at=old,
        files=[ArtifactFile(path="data.bin", sha256=digest.hexdigest, bytes=len(data))],
    )
    store.index.commit_writes([ArtifactWrite(artifact=pending)])
    assert collect_garbage(store).abandoned == []
    store.set_run_status(ctx.run_id or "", "crashed", ended_at=format_time(datetime.now(UTC)))
    assert collect_garbage(store).abandoned == [pending.artifact_id]


def test_a_save_that_found_its_blob_before_a_collection_is_refused(
    ctx: satchel.Context, settings: Settings
) -> None:
    """The race: a save finds its bytes stored (an old orphan), gc removes them, then the
    save commits. It must fail (nothing saved), never acknowledge a missing blob."""
    store = ctx.store
    data = big(settings, "r").encode()
    put_orphan(store.blobs, data)
    blob = store.put_bytes(data)  # deduplicated: found stored, nothing written
    assert blob.inline is None
    assert collect_garbage(store, grace=timedelta(0)).blobs_removed == 1
    artifact, write = file_write(data)
    with pytest.raises(BlobCollectedError) as raised:
        store.commit(write)
    assert raised.value.code == "blob_collected"
    assert raised.value.digests == (blob.digest.hexdigest,)
    assert store.index.get(artifact.artifact_id) is None
    # Storing the bytes again commits, and forgets the deletion record.
    store.put_bytes(data)
    artifact, write = file_write(data)
    store.commit(write)
    assert store.index.get(artifact.artifact_id) is not None
    assert fsck(store, read_data=True).ok


def test_a_collector_that_died_before_removing_leaves_the_save_whole(
    ctx: satchel.Context, settings: Settings
) -> None:
    """Deletion recorded, blob not yet removed (a collector killed in between): a save of
    those bytes looks, finds the blob, and commits."""
    store = ctx.store
    data = big(settings, "d").encode()
    digest = put_orphan(store.blobs, data)
    store.put_bytes(data)
    doomed = collection(store).doom_blobs(
        [digest.hexdigest], deleted_at=format_time(datetime.now(UTC))
    )
    assert doomed == [digest.hexdigest]
    artifact, write = file_write(data)
    store.commit(write)
    assert store.index.get(artifact.artifact_id) is not None
    # The record is gone with the commit: the next collection finds the blob referenced.
    assert collect_garbage(store, grace=timedelta(0)).blobs_removed == 0
    assert fsck(store, read_data=True).ok


def test_the_sdk_saves_again_when_its_blob_was_collected(
    ctx: satchel.Context, settings: Settings
) -> None:
    """``save_text`` has its bytes at hand: a collection racing it costs one more write,
    not an error."""
    store = ctx.store
    data = big(settings, "s")
    digest = put_orphan(store.blobs, data.encode())
    real_put = store.put_bytes
    calls = {"n": 0}

    def put_then_collect(payload: bytes) -> object:
        calls["n"] += 1
        blob = real_put(payload)
        if calls["n"] == 1:  # after the save found the blob stored, before its commit
            assert store.collect_blobs([digest.hexdigest]) == [digest.hexdigest]
        return blob

    store.put_bytes = put_then_collect  # type: ignore[method-assign]
    saved = ctx.sync_artifacts().save_text(data, name="raced")
    assert calls["n"] == 2
    assert ctx.sync_artifacts().load_text(saved.uri) == data
    assert fsck(store, read_data=True).ok


def test_deleting_an_artifact_keeps_a_blob_another_save_found(
    ctx: satchel.Context, settings: Settings
) -> None:
    """A delete racing a save of the same bytes: the delete removes the blob only its
    artifact used; the save that found it stored before then fails, nothing saved."""
    store = ctx.store
    data = big(settings, "z").encode()
    first, write = file_write(data)
    store.put_bytes(data)
    store.commit(write)
    blob = store.put_bytes(data)  # found stored: the first artifact's blob
    assert store.delete_artifact(first.artifact_id) == [blob.digest.hexdigest]
    assert store.blobs.stat(blob.digest) is None
    artifact, write = file_write(data)
    with pytest.raises(BlobCollectedError):
        store.commit(write)
    assert store.index.get(artifact.artifact_id) is None
    assert fsck(store, read_data=True).ok


def test_retention_policies_expire_and_pins_are_kept(
    ctx: satchel.Context, settings: Settings
) -> None:
    store = ctx.store
    assert isinstance(store.index, RetentionPolicies)
    store.index.add_policy(RetentionPolicy(kind="checkpoint", keep_last=1))
    arts = ctx.sync_artifacts()
    saved = [arts.save_text(big(settings, c), name=f"step-{c}", kind="checkpoint") for c in "abcd"]
    log = arts.save_text(big(settings, "l"), name="train.log", kind="log")
    ctx.finish_run("done")
    arts.pin(saved[0].artifact_id)

    plan = collect_garbage(store, dry_run=True)
    assert [e.artifact_id for e in plan.expired] == [a.artifact_id for a in saved[1:3]]
    assert all(e.reason for e in plan.expired)
    # Pinned between the plan and the delete: the deleting transaction keeps it.
    arts.pin(saved[1].artifact_id)
    deleted, _ = collection(store).delete_artifacts([saved[1].artifact_id], keep_pinned=True)
    assert deleted == []

    done = collect_garbage(store)
    assert [e.artifact_id for e in done.expired] == [saved[2].artifact_id]
    assert (done.artifacts_deleted, done.blobs_removed) == (1, 1)
    assert store.blobs.stat(Digest(hexdigest=saved[2].sha256 or "")) is None
    for kept in (saved[0], saved[1], saved[3], log):
        assert arts.load_text(kept.uri) == big(settings, kept.name[-1] if kept is not log else "l")
    assert fsck(store, read_data=True).ok


@pytest.mark.parametrize("store_kind", ["local", "s3+postgres"])
def test_leftovers_of_writes_are_removed_past_the_grace(
    ctx: satchel.Context, settings: Settings
) -> None:
    """A write interrupted after its first bytes leaves a temporary file (local) or an
    unfinished multipart upload (S3): kept within the grace period, then removed."""
    store = ctx.store
    blobs = store.blobs
    assert isinstance(blobs, BlobGarbage)
    if isinstance(blobs, PartSigner):
        blobs.start_parts()  # begun, never completed nor aborted
    else:
        sink = blobs.open_sink()
        sink.write(b"x" * 1000)  # never committed nor aborted: a crash would leave this
    assert collect_garbage(store).leftovers_removed == 0
    assert [g.kind for g in fsck(store).warnings] == ["garbage"]
    report = collect_garbage(store, grace=timedelta(0))
    assert report.leftovers_removed == 1
    assert fsck(store).warnings == []
