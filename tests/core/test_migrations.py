"""The Alembic migrations create exactly ``satchel.index.schema`` and run once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime
from pathlib import Path

import alembic.command
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

import satchel.index.sql
from satchel.errors import IndexBackendError
from satchel.index import ArtifactWrite, open_index
from satchel.index.schema import SCHEMA_HEAD, metadata
from satchel.models import Artifact, new_id

MIGRATIONS = Path(satchel.index.sql.__file__).parent / "migrations"


def index_url(path: Path) -> str:
    return f"sqlite:///{path}"


FTS_PREFIXES = ("artifact_fts", "artifact_trigram")


def revision_of(path: Path) -> str | None:
    engine = sa.create_engine(index_url(path))
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert len(rows) == 1
    return str(rows[0][0])


def test_fresh_index_matches_schema_metadata(tmp_path: Path) -> None:
    idx = open_index(index_url(tmp_path / "index.db"))
    idx.close()
    engine = sa.create_engine(index_url(tmp_path / "index.db"))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    # SQLite's FTS5 virtual tables (migration 0002) and their shadow tables
                    # are dialect-specific, outside the shared metadata.
                    "include_name": lambda name, type_, _parents: (
                        not (
                            type_ == "table" and name is not None and name.startswith(FTS_PREFIXES)
                        )
                    ),
                },
            )
            diff = compare_metadata(context, metadata)
            tables = set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert diff == []
    fts = {t for t in tables if t.startswith(FTS_PREFIXES)}
    assert {"artifact_fts", "artifact_trigram"} <= fts
    assert tables - fts == set(metadata.tables) | {"alembic_version"}


def test_schema_head_is_the_alembic_head() -> None:
    scripts = ScriptDirectory(str(MIGRATIONS))
    heads = scripts.get_heads()
    assert heads == [SCHEMA_HEAD], "one linear history whose head is SCHEMA_HEAD"
    # Every revision reaches the base: no orphaned migration files.
    revisions = list(scripts.walk_revisions())
    assert revisions[-1].down_revision is None
    assert revisions[0].revision == SCHEMA_HEAD


def test_fresh_index_is_at_head(tmp_path: Path) -> None:
    open_index(index_url(tmp_path / "index.db")).close()
    assert revision_of(tmp_path / "index.db") == SCHEMA_HEAD


def test_second_open_skips_migrations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "index.db"
    first = open_index(index_url(path))
    when = datetime(2026, 1, 1, tzinfo=UTC)
    artifact = Artifact(artifact_id=new_id(), name="kept", created_at=when, updated_at=when)
    first.commit_writes([ArtifactWrite(artifact=artifact)])
    first.close()

    calls: list[str] = []

    def no_upgrade(*args: object, **kwargs: object) -> None:
        calls.append("upgrade")
        raise AssertionError("migrations ran on an index already at head")

    monkeypatch.setattr(alembic.command, "upgrade", no_upgrade)
    second = open_index(index_url(path))
    try:
        assert second.get(artifact.artifact_id) == artifact
    finally:
        second.close()
    assert calls == []
    assert revision_of(path) == SCHEMA_HEAD


def test_index_from_a_newer_satchel_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    open_index(index_url(path)).close()
    engine = sa.create_engine(index_url(path))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    finally:
        engine.dispose()
    with pytest.raises(IndexBackendError):
        open_index(index_url(path))
    assert revision_of(path) == "9999_future"


@pytest.mark.parametrize("attempt", range(20))  # the race is narrow: give it many tries
def test_threads_opening_a_fresh_index_at_once(tmp_path: Path, attempt: int) -> None:
    """Six threads open one fresh file at once: switching it to WAL, which SQLite refuses
    at once rather than through the busy timeout while another connection does it, and
    migrating it, which one does while the others wait."""
    path = tmp_path / "index.db"
    count = 6
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait()
            open_index(index_url(path)).close()
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert revision_of(path) == SCHEMA_HEAD


OPENER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from satchel.index import open_index

    path, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    ready.touch()
    while not go.exists():
        time.sleep(0.001)
    open_index("sqlite:///" + path).close()
    print("opened")
    """
)


def test_processes_opening_a_fresh_index_at_once(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    go = tmp_path / "go"
    count = 3
    readies = [tmp_path / f"ready-{i}" for i in range(count)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, str(path), str(ready), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ready in readies
    ]
    try:
        deadline = 60.0
        waited = 0.0
        while not all(r.exists() for r in readies):
            assert all(p.poll() is None for p in procs), "an opener exited early"
            threading.Event().wait(0.01)
            waited += 0.01
            assert waited < deadline, "openers never got ready"
        go.touch()
        results = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
        assert out.strip() == "opened"
    assert revision_of(path) == SCHEMA_HEAD
