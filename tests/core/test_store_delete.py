"""``ArtifactStore.delete_artifact`` / ``delete_run`` on every store/index pair: the index
commits first, then the blobs only the deleted artifacts used leave the blob store."""

from __future__ import annotations

from pathlib import Path

import pytest

import satchel
from conftest import CONTEXT_FIELDS
from satchel.config import Settings
from satchel.errors import ConflictError, NotFoundError
from satchel.hashing import Digest
from satchel.index import ArtifactQuery


def big(settings: Settings, char: str) -> str:
    return char * (settings.inline_max + 1)  # past the inline limit: a blob of its own


def stored(ctx: satchel.Context, hexdigest: str | None) -> bool:
    assert hexdigest is not None
    return ctx.store.blobs.stat(Digest(hexdigest=hexdigest)) is not None


def test_delete_removes_blobs_nothing_else_uses(settings: Settings, tmp_path: Path) -> None:
    with satchel.Context(settings=settings, **CONTEXT_FIELDS) as ctx:
        arts = ctx.sync_artifacts()
        path = tmp_path / "weights.bin"
        path.write_text(big(settings, "w"))
        only = arts.save_file(str(path), kind="checkpoint", name="only")
        shared_a = arts.save_text(big(settings, "s"), name="shared-a")
        shared_b = arts.save_text(big(settings, "s"), name="shared-b")
        small = arts.save_text("tiny", name="small")
        with pytest.raises(ConflictError):  # the context's run is still running
            ctx.store.delete_artifact(only.artifact_id)
        ctx.finish_run("done")
        assert stored(ctx, only.sha256)
        assert ctx.store.delete_artifact(only.artifact_id) == [only.sha256]
        assert not stored(ctx, only.sha256)
        assert arts.get_by_id(only.artifact_id) is None
        assert ctx.store.delete_artifact(shared_a.artifact_id) == []
        assert stored(ctx, shared_a.sha256)
        assert arts.load_text_by_id(shared_b.artifact_id) == big(settings, "s")
        assert ctx.store.delete_artifact(small.artifact_id) == []  # inline: no blob to remove
        assert ctx.store.index.inline_blob(small.sha256 or "") is None
        with pytest.raises(NotFoundError):
            ctx.store.delete_artifact(only.artifact_id)
        assert [a.name for a in arts.list(level="org")] == ["shared-b"]


def test_a_crash_between_commit_and_blob_removal_leaves_only_garbage(settings: Settings) -> None:
    with satchel.Context(settings=settings, **CONTEXT_FIELDS) as ctx:
        arts = ctx.sync_artifacts()
        saved = arts.save_text(big(settings, "g"), name="g")
        ctx.finish_run("done")
        # The index commit alone, as if the process died right after it.
        assert ctx.store.index.delete_artifact(saved.artifact_id) == [saved.sha256]
        assert stored(ctx, saved.sha256)  # unreferenced: gc's to collect
        assert arts.get_by_id(saved.artifact_id) is None
        assert ctx.store.query(ArtifactQuery()) == []
        # The same bytes saved again reuse the blob; nothing dangles.
        again = arts.save_text(big(settings, "g"), name="g2")
        assert arts.load_text_by_id(again.artifact_id) == big(settings, "g")


def test_delete_run_removes_its_artifacts_and_their_blobs(settings: Settings) -> None:
    with satchel.Context(settings=settings, **{**CONTEXT_FIELDS, "run_id": "keep"}) as keep:
        kept = keep.sync_artifacts().save_text(big(settings, "k"), name="kept")
        with satchel.Context(settings=settings, **{**CONTEXT_FIELDS, "run_id": "gone"}) as ctx:
            arts = ctx.sync_artifacts()
            saved = [arts.save_text(big(settings, chr(65 + i)), name=f"a{i}") for i in range(3)]
            with pytest.raises(ConflictError):
                ctx.store.delete_run("gone")
            ctx.finish_run("failed")
            removed = ctx.store.delete_run("gone")
            assert sorted(removed) == sorted(a.sha256 for a in saved if a.sha256)
            assert all(not stored(ctx, a.sha256) for a in saved)
            assert ctx.store.get_run("gone") is None
            assert [a.artifact_id for a in ctx.store.query(ArtifactQuery())] == [kept.artifact_id]
            assert stored(ctx, kept.sha256)
