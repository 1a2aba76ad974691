"""Crash matrix of ``satchel gc`` itself: ``kill -9`` at each named step of a collection.

A store holds a kept artifact, one a retention policy expires, an abandoned upload and two
unreferenced blobs. ``satchel gc --grace 0`` (through ``_launch.py``) is killed after it
deleted the first batch of rows, after it recorded the deletions of blobs but removed none,
and after it removed the first blob of a batch. Afterwards: no damage (``fsck --read-data``),
every artifact not collected reads back, a save of a blob whose deletion was recorded but
not carried out commits (it finds the blob stored), and the next ``satchel gc`` clears
everything the killed one left.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _harness import check_after_crash, child_env, collect_after_crash, open_store

import satchel
from satchel.hashing import digest_bytes
from satchel.index import ArtifactWrite
from satchel.models import Artifact, ArtifactFile, new_id
from satchel.retention import RetentionPolicy

LAUNCH = Path(__file__).with_name("_launch.py")
#: Each point of a collection, and the kind of warning fsck may then show.
GC_POINTS = ("gc.rows_deleted", "collect.recorded", "collect.removing")
BIG = 40_000  # past the inline limit: blobs of their own


def _blob(char: str) -> bytes:
    return char.encode() * BIG


def _setup(store: Path) -> dict[str, Artifact]:
    with satchel.Context(store=store, run_id="gc-crash") as ctx:
        arts = ctx.sync_artifacts()
        saved = {
            "kept": arts.save_text(_blob("k").decode(), name="kept", kind="model"),
            "old": arts.save_text(_blob("a").decode(), name="old", kind="scratch"),
            "new": arts.save_text(_blob("b").decode(), name="new", kind="scratch"),
        }
        ctx.finish_run("done")
        index = ctx.store.index
        index.add_policy(RetentionPolicy(kind="scratch", keep_last=1))  # type: ignore[attr-defined]
        for char in "xy":  # two unreferenced blobs: a crash between blob and commit
            sink = ctx.store.blobs.open_sink()
            sink.write(_blob(char))
            sink.commit(digest_bytes(_blob(char)))
        now = datetime.now(UTC)
        data = _blob("p")
        ctx.store.put_bytes(data)
        digest = digest_bytes(data).hexdigest
        pending = Artifact(
            artifact_id=new_id(),
            name="abandoned",
            status="pending",
            sha256=digest,
            bytes=len(data),
            created_at=now,
            updated_at=now,
            files=[ArtifactFile(path="p.bin", sha256=digest, bytes=len(data))],
        )
        index.commit_writes([ArtifactWrite(artifact=pending)])
        saved["pending"] = pending
    return saved


@pytest.mark.parametrize("point", GC_POINTS)
def test_sigkill_during_gc(tmp_path: Path, point: str) -> None:
    store = tmp_path / "store"
    saved = _setup(store)
    killed = subprocess.run(
        [sys.executable, str(LAUNCH), "gc", "--grace", "0", "--store", str(store)],
        env={**child_env(), "CRASH_POINT": point},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -9, (killed.stdout, killed.stderr)

    with contextlib.closing(open_store(store)) as opened:
        report = check_after_crash(opened)
        assert {w.kind for w in report.warnings} <= {"orphan_blob", "stale_pending"}
        for name, char in (("kept", "k"), ("new", "b")):
            artifact = saved[name]
            assert opened.read_file(artifact.files[0], what=name) == _blob(char)
    # A save of bytes whose deletion may be recorded, not yet carried out: it commits
    # when it finds them stored, or stores them anew (the SDK), never a missing blob.
    with satchel.Context(store=store, run_id="after") as ctx:
        arts = ctx.sync_artifacts()
        again = arts.save_text(_blob("x").decode(), name="again")
        assert arts.load_text(again.uri) == _blob("x").decode()
        ctx.finish_run("done")
    with contextlib.closing(open_store(store)) as opened:
        collected = collect_after_crash(opened)
        assert opened.get(saved["old"].artifact_id) is None
        assert opened.get(again.artifact_id) is not None
    assert collected.deletions_purged == 0  # kept a week, whatever the grace
