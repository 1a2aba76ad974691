"""What only the PostgreSQL index has: its schema objects, URLs, and commit-ordered positions."""

from __future__ import annotations

import threading
from pathlib import Path

import alembic.command
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import pgserver
import satchel
from conformance.test_index import commit, make_artifact
from satchel.errors import IndexBackendError
from satchel.index import ArtifactQuery, open_index
from satchel.index.pg_text import PG_TABLES
from satchel.index.positions import claim
from satchel.index.rows import artifact_row
from satchel.index.schema import SCHEMA_HEAD, artifacts, metadata
from satchel.index.sql import SqlIndex

#: Objects of the PostgreSQL branches of the migrations, outside the shared metadata.
PG_ONLY_TABLES = {t.name for t in PG_TABLES}
PG_ONLY_COLUMNS = {("artifacts", "seq"), ("artifact_vectors", "seq")}
PG_ONLY_INDEXES = {
    "ix_artifacts_seq",
    "ix_artifact_vectors_seq",
    "ix_artifact_text_words",
    "ix_artifact_text_trigram",
}


def engine_of(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def _shared(obj: object, name: str | None, type_: str, _reflected: bool, _other: object) -> bool:
    if type_ == "table":
        return name not in PG_ONLY_TABLES
    if type_ == "column":
        return (obj.table.name, name) not in PG_ONLY_COLUMNS  # type: ignore[attr-defined]
    if type_ == "index":
        return name not in PG_ONLY_INDEXES
    return True


def test_fresh_index_matches_schema_metadata() -> None:
    with pgserver.fresh_schema() as url:
        open_index(url).close()
        engine = engine_of(url)
        try:
            with engine.connect() as conn:
                context = MigrationContext.configure(
                    conn,
                    opts={
                        "compare_type": True,
                        "compare_server_default": True,
                        "include_object": _shared,
                    },
                )
                diff = compare_metadata(context, metadata)
                inspector = sa.inspect(conn)
                tables = set(inspector.get_table_names())
                columns = {
                    (t, c["name"])
                    for t in ("artifacts", "artifact_vectors")
                    for c in inspector.get_columns(t)
                }
                indexes = {i["name"] for t in tables for i in inspector.get_indexes(t)}
                version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        finally:
            engine.dispose()
    assert diff == []
    assert tables == set(metadata.tables) | PG_ONLY_TABLES | {"alembic_version"}
    assert columns >= PG_ONLY_COLUMNS
    assert indexes >= PG_ONLY_INDEXES
    assert version == SCHEMA_HEAD


def test_second_open_skips_migrations(monkeypatch: pytest.MonkeyPatch) -> None:
    url = pgserver.index_url()
    try:
        monkeypatch.setattr(alembic.command, "upgrade", pytest.fail)
        open_index(url).close()
    finally:
        pgserver.release()


def test_threads_opening_a_fresh_schema_at_once() -> None:
    errors: list[BaseException] = []
    with pgserver.fresh_schema() as url:
        barrier = threading.Barrier(4)

        def worker() -> None:
            try:
                barrier.wait()
                open_index(url).close()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        idx = open_index(url, migrate=False)
        assert isinstance(idx, SqlIndex)
        assert idx.current_revision() == SCHEMA_HEAD
        idx.close()
    assert errors == []


def test_index_from_a_newer_satchel_is_refused() -> None:
    with pgserver.fresh_schema() as url:
        open_index(url).close()
        engine = engine_of(url)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
        engine.dispose()
        with pytest.raises(IndexBackendError):
            open_index(url)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_url_schemes_and_the_environment(scheme: str, tmp_path: Path) -> None:
    url = pgserver.index_url()
    try:
        same = scheme + url.removeprefix("postgresql")
        with satchel.Context(
            settings=satchel.Settings.load(
                environ={"SATCHEL_INDEX": same}, home=str(tmp_path / "home")
            ),
            run_id="r1",
        ) as ctx:
            saved = ctx.sync_artifacts().save_text("hello", name="hello.txt")
            assert ctx.store.index.url.startswith(scheme + "://")
        idx = open_index(url)
        assert idx.get(saved.artifact_id) is not None
        idx.close()
    finally:
        pgserver.release()


def test_an_unreachable_server_is_an_index_error() -> None:
    with pytest.raises(IndexBackendError):
        open_index("postgresql://satchel:pw@127.0.0.1:1/none?connect_timeout=2")


def test_positions_follow_commit_order_not_insert_order() -> None:
    """A save that drew a position first but commits last is never skipped by a watermark.

    ``early`` draws its position and stays uncommitted; ``late`` is saved meanwhile. Were
    positions plain sequence values, ``late`` would commit with the higher one, a text
    catch-up would move the watermark past it, and ``early`` would never be indexed. The
    positions lock makes ``late`` wait for ``early``'s commit instead.
    """
    url = pgserver.index_url()
    idx = open_index(url)
    try:
        assert isinstance(idx, SqlIndex)
        early = make_artifact(name="early-marmot.txt")
        late = make_artifact(name="late-marmot.txt")
        done = threading.Event()
        errors: list[BaseException] = []

        def save_late() -> None:
            try:
                commit(idx, late)
                done.set()
            except BaseException as exc:
                errors.append(exc)

        with idx.engine.connect() as conn:
            transaction = conn.begin()
            claim(conn)
            conn.execute(artifacts.insert(), [artifact_row(early)])
            saver = threading.Thread(target=save_late)
            saver.start()
            assert not done.wait(0.5), "the later save drew a position before the earlier commit"
            # The text index catches up meanwhile: nothing committed to index yet.
            assert idx.lexical("marmot", ArtifactQuery(), 10) == []
            transaction.commit()
        saver.join(30)
        assert errors == [] and done.is_set()
        found = [a.name for a in idx.lexical("marmot", ArtifactQuery(), 10)]
        assert sorted(found) == ["early-marmot.txt", "late-marmot.txt"]
        with idx.engine.connect() as conn:
            seqs = dict(conn.execute(sa.text("SELECT name, seq FROM artifacts")).all())
        assert seqs["early-marmot.txt"] < seqs["late-marmot.txt"]
        docs, _ = idx.pending_documents("m", 10)
        assert [i for i, _ in docs] == [early.artifact_id, late.artifact_id]
    finally:
        idx.close()
        pgserver.release()


def test_concurrent_catch_ups_index_each_artifact_once() -> None:
    """Searches in several threads at once: one catch-up at a time, no row twice."""
    url = pgserver.index_url()
    idx = open_index(url)
    try:
        assert isinstance(idx, SqlIndex)
        commit(idx, *[make_artifact(name=f"heron-{i}.txt") for i in range(300)])
        errors: list[BaseException] = []
        barrier = threading.Barrier(4)

        def search() -> None:
            try:
                barrier.wait()
                assert len(idx.lexical("heron", ArtifactQuery(), 500)) == 300
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=search) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with idx.engine.connect() as conn:
            texts = conn.execute(sa.text("SELECT count(*) FROM artifact_text")).scalar()
            heron = conn.execute(
                sa.text("SELECT docs FROM artifact_terms WHERE term = 'heron'")
            ).scalar()
        assert texts == heron == 300
    finally:
        idx.close()
        pgserver.release()
