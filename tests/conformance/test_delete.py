"""Deleting artifacts and runs, and listing runs, on every index backend.

A delete takes every row of the artifact with it (files, labels, metrics, tags, vectors,
text index rows, grants, lineage) and reports the digests nothing references any more; it
is refused while the producing run is running (seeds/001: "a run is not done until its
sync is"). Rows are counted in the tables themselves.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from satchel.errors import ConflictError, NotFoundError, ValidationError
from satchel.index import ArtifactQuery, ArtifactWrite, Index
from satchel.index.base import Reader, RunPosition, RunQuery
from satchel.index.schema import (
    artifact_files,
    artifact_labels,
    artifact_metrics,
    artifact_tags,
    artifact_vectors,
    grants,
    inline_blobs,
    occurrences,
)
from satchel.index.sql import SqlIndex
from satchel.models import Artifact, ArtifactFile, Occurrence, Run, format_time, new_id
from satchel.tenancy import tenancy_of

T0 = datetime(2026, 6, 1, tzinfo=UTC)
CHILD_TABLES = [
    artifact_files,
    artifact_labels,
    artifact_metrics,
    artifact_tags,
    artifact_vectors,
    grants,
    occurrences,
]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make(run_id: str | None = "r-done", *, data: bytes = b"shared", **fields: Any) -> Artifact:
    when = fields.pop("created_at", T0)
    return Artifact(
        artifact_id=new_id(),
        name=fields.pop("name", "weights checkpoint"),
        kind="model",
        run_id=run_id,
        sha256=sha(data),
        bytes=len(data),
        created_at=when,
        updated_at=when,
        labels={"ds": "d1"},
        tags=["best"],
        metrics={"acc": 0.9},
        files=[ArtifactFile(path="w.bin", sha256=sha(data), bytes=len(data))],
        **fields,
    )


def run(run_id: str, status: str = "done", **fields: Any) -> Run:
    return Run(run_id=run_id, status=status, started_at=T0, **fields)  # type: ignore[arg-type]


def commit(index: Index, *artifacts: Artifact, data: bytes = b"shared") -> None:
    index.commit_writes(
        [ArtifactWrite(artifact=a, inline_blobs={sha(data): data}) for a in artifacts]
    )


def rows_of(index: Index, artifact_id: str) -> dict[str, int]:
    assert isinstance(index, SqlIndex)
    found: dict[str, int] = {}
    with index.engine.connect() as conn:
        for table in CHILD_TABLES:
            count = conn.execute(
                sa.select(sa.func.count())
                .select_from(table)
                .where(table.c.artifact_id == artifact_id)
            ).scalar_one()
            found[table.name] = int(count)
        if conn.dialect.name == "sqlite":
            for name in ("artifact_fts", "artifact_trigram"):
                found[name] = int(
                    conn.execute(
                        sa.text(f"SELECT count(*) FROM {name} WHERE artifact_id = :a"),
                        {"a": artifact_id},
                    ).scalar_one()
                )
        else:
            found["artifact_text"] = int(
                conn.execute(
                    sa.text("SELECT count(*) FROM artifact_text WHERE artifact_id = :a"),
                    {"a": artifact_id},
                ).scalar_one()
            )
    return found


def inline_count(index: Index) -> int:
    assert isinstance(index, SqlIndex)
    with index.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(inline_blobs)).scalar_one())


def test_delete_takes_every_row_with_it(index: Index) -> None:
    assert isinstance(index, SqlIndex)
    index.ensure_run(run("r-done"))
    gone, kept = make(name="doomed checkpoint"), make(name="kept checkpoint")
    commit(index, gone, kept)
    index.add_occurrences(
        [Occurrence(artifact_id=gone.artifact_id, run_id="r2", node_id=None, event="used", at=T0)]
    )
    index.store_vectors("m", [(gone.artifact_id, b"\0" * 8), (kept.artifact_id, b"\0" * 8)], 2)
    tenancy = tenancy_of(index)
    org = tenancy.create_org("o")
    tenancy.add_grant(gone.artifact_id, email="x@example.com", granted_by="u")
    tenancy.add_grant(gone.artifact_id, org_id=org.org_id, granted_by="u")
    assert [a.artifact_id for a in index.lexical("doomed", ArtifactQuery(), 10)] == [
        gone.artifact_id
    ]
    before = rows_of(index, gone.artifact_id)
    assert all(before.values()), before  # every kind of row exists, so its absence means something

    assert index.delete_artifact(gone.artifact_id) == []  # the blob is still the other's
    assert set(rows_of(index, gone.artifact_id).values()) == {0}
    assert index.get(gone.artifact_id) is None
    assert [a.artifact_id for a in index.query(ArtifactQuery())] == [kept.artifact_id]
    assert index.lexical("doomed", ArtifactQuery(), 10) == []
    if index.url.startswith("postgresql"):  # the word counts behind typo matching follow
        with index.engine.connect() as conn:
            counts = dict(conn.execute(sa.text("SELECT term, docs FROM artifact_terms")).all())
        assert "doomed" not in counts
        assert counts["checkpoint"] == 1
    assert index.occurrences(gone.artifact_id) == []
    assert index.vector_state("m")[0] == 1
    assert all(rows_of(index, kept.artifact_id)[t.name] for t in (artifact_files, artifact_labels))
    assert tenancy.get_org(org.org_id) == org  # a grant's org is not the grant's to delete
    with pytest.raises(NotFoundError):
        index.delete_artifact(gone.artifact_id)


def test_the_last_reference_returns_the_digest_and_drops_its_inline_copy(index: Index) -> None:
    first, second = make(), make()
    other = make(data=b"other")
    commit(index, first, second)
    commit(index, other, data=b"other")
    assert inline_count(index) == 2
    assert index.delete_artifact(first.artifact_id) == []
    assert index.inline_blob(sha(b"shared")) == b"shared"
    assert index.delete_artifact(second.artifact_id) == [sha(b"shared")]
    assert index.inline_blob(sha(b"shared")) is None
    assert not index.blob_referenced(sha(b"shared"))
    assert index.inline_blob(sha(b"other")) == b"other"
    assert inline_count(index) == 1


def test_pending_artifacts_and_artifacts_without_a_run_can_be_deleted(index: Index) -> None:
    pending = make(status="pending")
    loose = make(run_id=None)
    commit(index, pending, loose)
    assert index.get(pending.artifact_id) is None
    index.delete_artifact(pending.artifact_id)
    index.delete_artifact(loose.artifact_id)
    assert index.query(ArtifactQuery(include_pending=True)) == []


def test_delete_is_refused_while_the_run_is_running(index: Index) -> None:
    index.ensure_run(run("r-live", "running"))
    artifact = make("r-live")
    commit(index, artifact)
    with pytest.raises(ConflictError, match="still running"):
        index.delete_artifact(artifact.artifact_id)
    assert index.get(artifact.artifact_id) is not None
    with pytest.raises(ConflictError):
        index.delete_run("r-live")
    assert index.get_run("r-live") is not None
    for status in ("crashed", "failed", "done"):
        index.set_run_status("r-live", status, ended_at=format_time(T0))  # type: ignore[arg-type]
    assert index.delete_artifact(artifact.artifact_id) == [sha(b"shared")]


def test_delete_run_takes_its_experiments_and_their_artifacts(index: Index) -> None:
    index.ensure_run(run("grid"))
    index.ensure_run(run("exp-1", parent_run_id="grid"))
    index.ensure_run(run("exp-2", parent_run_id="grid", status="running"))
    index.ensure_run(run("exp-1a", parent_run_id="exp-1"))
    index.ensure_run(run("elsewhere"))
    ours = [make(r, data=r.encode()) for r in ("grid", "exp-1", "exp-2", "exp-1a")]
    for a, r in zip(ours, ("grid", "exp-1", "exp-2", "exp-1a"), strict=True):
        commit(index, a, data=r.encode())
    theirs = make("elsewhere")
    commit(index, theirs)
    index.add_occurrences(
        [
            Occurrence(
                artifact_id=theirs.artifact_id, run_id="exp-1", node_id=None, event="used", at=T0
            )
        ]
    )
    with pytest.raises(ConflictError, match="exp-2"):
        index.delete_run("grid")
    assert len(index.query(ArtifactQuery())) == 5
    index.set_run_status("exp-2", "done", ended_at=format_time(T0))
    digests = index.delete_run("grid")
    assert sorted(digests) == sorted(sha(r.encode()) for r in ("grid", "exp-1", "exp-2", "exp-1a"))
    assert [a.artifact_id for a in index.query(ArtifactQuery())] == [theirs.artifact_id]
    for r in ("grid", "exp-1", "exp-2", "exp-1a"):
        assert index.get_run(r) is None
    assert index.get_run("elsewhere") is not None
    assert [o.event for o in index.occurrences(theirs.artifact_id)] == ["produced"]
    with pytest.raises(NotFoundError):
        index.delete_run("grid")


def test_list_runs_pages_newest_first(index: Index) -> None:
    made = []
    for i in range(7):
        r = Run(
            run_id=f"run-{i}",
            status="running" if i % 2 else "done",
            started_at=T0 + timedelta(minutes=i // 2),  # pairs share a start time
            org_id="o1" if i < 5 else "o2",
            user_id=f"u{i % 3}",
            parent_run_id="run-0" if i in (3, 4) else None,
        )
        index.ensure_run(r)
        made.append(r)
    want = [r.run_id for r in sorted(made, key=lambda r: (r.started_at, r.run_id), reverse=True)]
    assert [r.run_id for r in index.list_runs(RunQuery())] == want
    assert index.list_runs(RunQuery())[0] == index.get_run(want[0])
    paged: list[str] = []
    after: RunPosition | None = None
    while True:
        page = index.list_runs(RunQuery(limit=3, after=after))
        paged.extend(r.run_id for r in page)
        if len(page) < 3:
            break
        last = page[-1]
        assert last.started_at is not None
        after = RunPosition(started_at=format_time(last.started_at), run_id=last.run_id)
    assert paged == want
    assert [r.run_id for r in index.list_runs(RunQuery(equals={"status": "running"}))] == [
        i for i in want if int(i[-1]) % 2
    ]
    assert {r.run_id for r in index.list_runs(RunQuery(equals={"parent_run_id": "run-0"}))} == {
        "run-3",
        "run-4",
    }
    assert {r.run_id for r in index.list_runs(RunQuery(equals={"parent_run_id": None}))} == {
        "run-0",
        "run-1",
        "run-2",
        "run-5",
        "run-6",
    }
    reader = Reader(user_id="u1", org_id="o2", email="u1@example.com")
    # Runs of the reader's org, or that the reader started.
    assert {r.run_id for r in index.list_runs(RunQuery(reader=reader))} == {
        "run-1",
        "run-4",
        "run-5",
        "run-6",
    }
    with pytest.raises(ValidationError):
        index.list_runs(RunQuery(equals={"name": "x"}))
    with pytest.raises(ValidationError):
        index.list_runs(RunQuery(limit=-1))


def test_deleting_many_takes_their_text_rows_wherever_they_sit(index: Index) -> None:
    """A batch delete (as ``gc`` does) finds each document in both text indexes, also when
    the two tables no longer keep a document at the same rowid."""
    index.ensure_run(run("r-done"))
    doomed = [make(name=f"doomed checkpoint {i}") for i in range(12)]
    kept = [make(name=f"kept checkpoint {i}") for i in range(6)]
    commit(index, *doomed[:6], *kept[:3])
    assert len(index.lexical("checkpoint", ArtifactQuery(), 50)) == 9  # indexed
    if index.url.startswith("sqlite"):
        assert isinstance(index, SqlIndex)
        with index.engine.begin() as conn:  # one document moved to another rowid in one table
            conn.execute(
                sa.text(
                    "INSERT INTO artifact_trigram (artifact_id, body) SELECT artifact_id, body "
                    "FROM artifact_trigram WHERE artifact_id = :a"
                ),
                {"a": doomed[2].artifact_id},
            )
            conn.execute(
                sa.text(
                    "DELETE FROM artifact_trigram WHERE artifact_id = :a AND rowid = "
                    "(SELECT min(rowid) FROM artifact_trigram WHERE artifact_id = :a)"
                ),
                {"a": doomed[2].artifact_id},
            )
    commit(index, *doomed[6:], *kept[3:])  # not in the text index until the next search
    assert isinstance(index, SqlIndex)
    deleted, _ = index.delete_artifacts([a.artifact_id for a in doomed])
    assert sorted(deleted) == sorted(a.artifact_id for a in doomed)
    for artifact in doomed:
        assert set(rows_of(index, artifact.artifact_id).values()) == {0}
    found = index.lexical("checkpoint", ArtifactQuery(), 50)
    assert sorted(a.artifact_id for a in found) == sorted(a.artifact_id for a in kept)
    text_tables = {"artifact_fts", "artifact_trigram", "artifact_text"}
    for artifact in kept:
        rows = rows_of(index, artifact.artifact_id)
        assert {rows[t] for t in text_tables & rows.keys()} == {1}, rows
