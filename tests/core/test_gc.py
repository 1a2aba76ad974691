"""``satchel.gc`` on every backend pair: the plan changes nothing, execution removes only
unreferenced things older than the grace period, and leaves a store ``fsck`` finds clean."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

import satchel
from conftest import CONTEXT_FIELDS
from satchel.config import Settings
from satchel.fsck import fsck
from satchel.gc import execute_gc, plan_gc
from satchel.hashing import Digest, digest_bytes
from satchel.index import ArtifactWrite
from satchel.models import Artifact, ArtifactFile, new_id
from satchel.storage import BlobGarbage, BlobStore
from satchel.storage.local import LocalBlobStore
from satchel.storage.s3 import S3BlobStore
from satchel.store import ArtifactStore

PAIRS = ["local", "memory+sqlite", "s3+postgres"]
DAYS_AHEAD = timedelta(days=3)


@pytest.fixture(params=PAIRS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def ctx(settings: Settings) -> Iterator[satchel.Context]:
    with satchel.Context(settings=settings, **CONTEXT_FIELDS) as context:
        yield context


def big(settings: Settings, char: str) -> str:
    return char * (settings.inline_max + 100)


def put_blob(blobs: BlobStore, data: bytes) -> Digest:
    digest = digest_bytes(data)
    sink = blobs.open_sink()
    sink.write(data)
    sink.commit(digest)
    return digest


def blob_set(blobs: BlobStore) -> set[str]:
    return {d.hexdigest for d, _ in blobs.iter_blobs()}


def reference(
    store: ArtifactStore, digest: Digest, size: int, *, pending: bool, age: timedelta
) -> Artifact:
    """An artifact row, last updated ``age`` ago, whose one file references ``digest``."""
    updated = datetime.now(UTC) - age
    artifact = Artifact(
        artifact_id=new_id(),
        name="upload",
        status="pending" if pending else "completed",
        sha256=digest.hexdigest,
        bytes=size,
        created_at=updated,
        updated_at=updated,
        org_id="o1",
        user_id="u1",
        files=[ArtifactFile(path="data.bin", sha256=digest.hexdigest, bytes=size)],
    )
    store.index.commit_writes([ArtifactWrite(artifact=artifact)])
    return artifact


def test_a_dry_run_changes_nothing(ctx: satchel.Context, settings: Settings) -> None:
    store = ctx.store
    ctx.sync_artifacts().save_text(big(settings, "k"), name="kept")
    orphan = put_blob(store.blobs, b"o" * 5000)
    before = blob_set(store.blobs)
    plan = plan_gc(store, grace=timedelta(hours=24), now=datetime.now(UTC) + DAYS_AHEAD)
    assert [b.sha256 for b in plan.orphan_blobs] == [orphan.hexdigest]
    assert plan.bytes == 5000
    assert plan.to_dict()["orphan_blobs"][0]["sha256"] == orphan.hexdigest
    assert blob_set(store.blobs) == before
    # With the real clock the orphan is young: nothing is planned at all.
    assert plan_gc(store, grace=timedelta(hours=24)).empty


def test_gc_removes_old_garbage_and_keeps_young_and_referenced_blobs(
    ctx: satchel.Context, settings: Settings
) -> None:
    store = ctx.store
    arts = ctx.sync_artifacts()
    saved = [arts.save_text(big(settings, c), name=c) for c in "ab"]
    small = arts.save_text("inline", name="small")
    old_orphan = put_blob(store.blobs, b"old" * 3000)
    stale_data = b"an upload abandoned long ago" * 500
    stale_blob = put_blob(store.blobs, stale_data)
    stale = reference(store, stale_blob, len(stale_data), pending=True, age=DAYS_AHEAD)
    leftover = None
    if isinstance(store.blobs, LocalBlobStore):  # a temp file a crashed write left
        leftover = store.blobs.tmp_dir / f"{new_id()}.part"
        leftover.write_bytes(b"x" * 100)
        past = time.time() - 3600
        os.utime(leftover, (past, past))
    time.sleep(2.1)  # object stores keep modification times in whole seconds
    now = datetime.now(UTC)
    young_orphan = put_blob(store.blobs, b"young" * 3000)
    fresh_data = b"an upload in flight" * 500
    fresh_blob = put_blob(store.blobs, fresh_data)
    fresh = reference(store, fresh_blob, len(fresh_data), pending=True, age=timedelta(0))
    grace = timedelta(seconds=1.5)

    plan = plan_gc(store, grace=grace, now=now)
    assert [b.sha256 for b in plan.orphan_blobs] == [old_orphan.hexdigest]
    assert [p.artifact_id for p in plan.pending] == [stale.artifact_id]
    if leftover is not None:
        assert [g.key for g in plan.garbage] == [f"tmp/{leftover.name}"]
    result = execute_gc(store, plan)
    assert (result.blobs_removed, result.pending_removed) == (2, 1)
    assert result.bytes_freed == 9000 + len(stale_data) + (100 if leftover else 0)
    assert result.kept == []
    left = blob_set(store.blobs)
    assert old_orphan.hexdigest not in left
    assert stale.sha256 not in left
    assert {young_orphan.hexdigest, fresh.sha256} <= left
    assert {a.sha256 for a in saved} <= left
    assert leftover is None or not leftover.exists()
    for a in [*saved, small]:
        assert arts.load_text_by_id(a.artifact_id) in {
            big(settings, "a"),
            big(settings, "b"),
            "inline",
        }
    report = fsck(store, read_data=True)
    assert report.ok, report.damage
    assert [(w.kind, w.key) for w in report.warnings] == [("orphan_blob", young_orphan.hexdigest)]
    # Once past the grace, the young orphan and the pending upload go too: nothing is left
    # to warn about, and every saved artifact still reads.
    execute_gc(store, plan_gc(store, grace=grace, now=now + timedelta(seconds=10)))
    report = fsck(store, read_data=True)
    assert (report.ok, report.warnings, report.artifacts) == (True, [], 3)


def test_a_blob_referenced_after_the_plan_is_kept(ctx: satchel.Context) -> None:
    store = ctx.store
    data = b"saved again meanwhile" * 500
    orphan = put_blob(store.blobs, data)
    plan = plan_gc(store, grace=timedelta(hours=1), now=datetime.now(UTC) + DAYS_AHEAD)
    assert [b.sha256 for b in plan.orphan_blobs] == [orphan.hexdigest]
    reference(
        store, orphan, len(data), pending=False, age=timedelta(0)
    )  # a save commits in between
    result = execute_gc(store, plan)
    assert result.blobs_removed == 0
    assert result.kept == [f"blob {orphan.hexdigest}: referenced again since the plan"]
    assert store.blobs.stat(orphan) == len(data)
    assert fsck(store, read_data=True).ok


def test_leftovers_of_writes_are_warned_about_then_collected(ctx: satchel.Context) -> None:
    store = ctx.store
    blobs = store.blobs
    expected: list[tuple[str, str]] = []
    if isinstance(blobs, LocalBlobStore):  # a temp file a crashed write left
        temp = blobs.tmp_dir / f"{new_id()}.part"
        temp.write_bytes(b"x" * 100)
        expected.append(("temp_file", f"tmp/{temp.name}"))
    elif isinstance(blobs, S3BlobStore):  # a multipart upload begun and never finished
        upload = blobs.start_parts()
        expected.append(("multipart_upload", f"tmp/{upload.token}"))
    else:
        assert not isinstance(blobs, BlobGarbage)  # a dict leaves nothing behind
    warnings = fsck(store).warnings
    assert [("garbage", key) for _, key in expected] == [(w.kind, w.key) for w in warnings]
    assert plan_gc(store).garbage == []  # young: kept for the grace period
    plan = plan_gc(store, grace=timedelta(hours=1), now=datetime.now(UTC) + DAYS_AHEAD)
    assert [(g.kind, g.key) for g in plan.garbage] == expected
    result = execute_gc(store, plan)
    assert (result.garbage_removed, result.kept) == (len(expected), [])
    assert fsck(store).warnings == []
