"""Metric ranking at scale: bounded walks of the ranking index, the sort fallback, the plans
SQLite picks for them, the filter that drives a sort, statistics, and the backfills of
migrations 0003 and 0005."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

import satchel.index.sql
from satchel.index import ArtifactWrite, Index, drive, open_index
from satchel.index import query as plans
from satchel.index.base import ArtifactQuery, QueryPosition, Reader
from satchel.index.query import build_select, ranking_edge
from satchel.index.sql import SqlIndex
from satchel.index.sqlite import open_sqlite_index
from satchel.index.stats import MIN_ROWS, is_stale
from satchel.models import Artifact, format_time, new_id
from satchel.tenancy import tenancy_of

MIGRATIONS = Path(satchel.index.sql.__file__).parent / "migrations"
START = datetime(2026, 1, 1, tzinfo=UTC)


def corpus(count: int) -> list[Artifact]:
    """Artifacts with few distinct metric values (ties), labels, tags, two kinds and runs."""
    out = []
    for i in range(count):
        when = START + timedelta(seconds=i // 2)  # pairs share a creation time
        out.append(
            Artifact(
                artifact_id=new_id(),
                name=f"a{i}",
                kind=("report", "model", "model", None)[i % 4],
                run_id=f"r{i % 3}",
                session_id="s",
                created_at=when,
                updated_at=when,
                labels={"ds": f"d{i % 5}", "seed": i % 2},
                tags=["t"] if i % 3 == 0 else [],
                metrics={"acc": (i * 7) % 5 / 10, **({"loss": i % 4} if i % 6 else {})},
            )
        )
    return out


def expected(rows: list[Artifact], query: ArtifactQuery) -> list[str]:
    """The query's answer computed in Python: filter, then value, newest, id descending."""
    assert query.metric is not None
    found = [
        a
        for a in rows
        if query.metric in a.metrics
        and all(getattr(a, k) == v for k, v in query.equals.items())
        and all(a.labels.get(k) == v for k, v in query.labels.items())
        and set(query.tags_all) <= set(a.tags)
    ]
    sign = -1 if query.metric_order == "max" else 1
    found.sort(key=lambda a: a.artifact_id, reverse=True)
    found.sort(key=lambda a: a.created_at or START, reverse=True)
    found.sort(key=lambda a: sign * a.metrics[query.metric])
    return [a.artifact_id for a in found]


@pytest.fixture
def filled(index: Index) -> Any:
    """Every index backend (``index`` of conftest), holding ``corpus(120)``."""
    assert isinstance(index, SqlIndex)
    rows = corpus(120)
    index.commit_writes([ArtifactWrite(artifact=a) for a in rows])
    return index, rows


@pytest.fixture
def filled_sqlite(tmp_path: Path) -> Any:
    """A SQLite index holding ``corpus(120)``, for the tests of SQLite's plans."""
    index = open_index(f"sqlite:///{tmp_path / 'index.db'}")
    assert isinstance(index, SqlIndex)
    rows = corpus(120)
    index.commit_writes([ArtifactWrite(artifact=a) for a in rows])
    yield index, rows
    index.close()


QUERIES = [
    {"equals": {"kind": "model"}},
    {"equals": {"kind": "model"}, "labels": {"ds": "d1"}},
    {"equals": {"kind": "model"}, "labels": {"ds": "d2", "seed": 1}, "tags_all": ("t",)},
    {"equals": {"kind": "report", "session_id": "s"}},
    {"equals": {"kind": "model", "run_id": "r1"}, "labels": {"seed": 0}},
    {"labels": {"ds": "d3"}},
    {"equals": {"kind": "nothing"}},
    {"equals": {"kind": None}, "labels": {"ds": "d3"}, "tags_all": ("t",)},
    {"equals": {"kind": "model", "session_id": "s"}, "labels": {"seed": 1}, "tags_all": ("t",)},
]


@pytest.mark.parametrize(
    ("first", "most"), [(3, 4), (3, 1000), (2000, 64000)], ids=["sorts", "walks", "default"]
)
@pytest.mark.parametrize("order", ["max", "min"])
@pytest.mark.parametrize("metric", ["acc", "loss"])
def test_walks_and_sorts_rank_like_python(
    filled: Any, monkeypatch: pytest.MonkeyPatch, first: int, most: int, order: str, metric: str
) -> None:
    monkeypatch.setattr(satchel.index.sql, "FIRST_WALK", first)
    monkeypatch.setattr(plans, "MAX_WALK", most)
    index, rows = filled
    for shape in QUERIES:
        query = ArtifactQuery(metric=metric, metric_order=order, **shape)  # type: ignore[arg-type]
        want = expected(rows, query)
        for limit in (1, 5, 200):
            got = [a.artifact_id for a in index.query(replace(query, limit=limit))]
            assert got == want[:limit], (shape, limit)
        # Keyset paging through every page gives the whole ranking once, in order.
        paged: list[str] = []
        position: QueryPosition | None = None
        while True:
            page = index.query(replace(query, limit=4, after=position))
            paged.extend(a.artifact_id for a in page)
            if len(page) < 4:
                break
            last = page[-1]
            assert last.created_at is not None
            position = QueryPosition(
                created_at=format_time(last.created_at),
                artifact_id=last.artifact_id,
                metric_value=last.metrics[metric],
            )
        assert paged == want, shape


def plan(index: SqlIndex, statement: Any) -> list[str]:
    sql = str(
        statement.compile(dialect=index.engine.dialect, compile_kwargs={"literal_binds": True})
    )
    path = index.url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        found = [str(row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
    conn.close()
    return found


def bound_plan(index: SqlIndex, statement: Any) -> list[str]:
    """``plan`` with the values bound as parameters, as searches run: the planner cannot
    derive ranges from literal values then."""
    compiled = statement.compile(dialect=index.engine.dialect)
    params = compiled.construct_params()
    assert compiled.positiontup is not None
    values = [params[name] for name in compiled.positiontup]
    with sqlite3.connect(index.url.removeprefix("sqlite:///")) as conn:
        found = [str(row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + str(compiled), values)]
    conn.close()
    return found


def test_best_reads_the_ranking_index_without_sorting(filled_sqlite: Any) -> None:
    index, _ = filled_sqlite
    query = ArtifactQuery(
        equals={"session_id": "s", "kind": "model"},
        labels={"ds": "d1"},
        metric="acc",
        metric_order="max",
        limit=2,
    )
    edge = QueryPosition(
        created_at="2026-01-01T00:00:30.000000Z", artifact_id="Z", metric_value=0.2
    )
    # A later walk starts past a cursor, still in the ranking's order: one range of the
    # index, not a MULTI-INDEX OR gathered and sorted.
    past = replace(
        query,
        after=QueryPosition(
            created_at="2026-01-01T00:00:50.000000Z", artifact_id="Z", metric_value=0.4
        ),
    )
    statements = (
        build_select(query, until=edge),
        ranking_edge(query, 2000),
        build_select(past, until=edge),
        ranking_edge(past, 2000),
    )
    for statement in statements:
        steps = plan(index, statement)
        assert not any("MULTI-INDEX OR" in s for s in steps), steps
        assert any("ix_artifact_metrics_rank" in s for s in steps), steps
        assert not any("TEMP B-TREE FOR ORDER BY" in s for s in steps), steps
    # The fallback sorts what the filters find, off the kind's own index.
    steps = plan(index, build_select(query, sort=True))
    assert not any("ix_artifact_metrics_rank" in s for s in steps), steps


def test_a_walk_past_a_cursor_reads_one_range_with_a_million_rows_statistics(
    filled_sqlite: Any,
) -> None:
    # With the statistics of a million artifacts (six kinds, three metrics), SQLite answers
    # "value < v OR (value = v AND ...)" with a MULTI-INDEX OR, gathering a whole stretch and
    # sorting it, unless the cursor's condition also says "value <= v" on its own.
    index, _ = filled_sqlite
    path = index.url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("ANALYZE")
        conn.execute("DELETE FROM sqlite_stat1")
        conn.executemany(
            "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)",
            [
                ("artifacts", "ix_artifacts_kind", "1000000 166667 1"),
                ("artifacts", "ix_artifacts_session", "1000000 1000000 1"),
                ("artifacts", "sqlite_autoindex_artifacts_1", "1000000 1"),
                ("artifact_metrics", "ix_artifact_metrics_rank", "3000000 1000000 166667 1 1 1"),
                ("artifact_metrics", "ix_artifact_metrics_value", "3000000 1000000 2"),
                ("artifact_metrics", "artifact_metrics", "3000000 3 1"),
            ],
        )
    conn.close()
    query = ArtifactQuery(
        equals={"session_id": "s", "kind": "model"},
        labels={"ds": "d1", "seed": 1},
        metric="acc",
        metric_order="max",
        limit=50,
        after=QueryPosition(
            created_at="2026-01-01T00:00:50.000000Z", artifact_id="Z", metric_value=0.4
        ),
    )
    edge = QueryPosition(
        created_at="2026-01-01T00:00:30.000000Z", artifact_id="Z", metric_value=0.2
    )
    for statement in (build_select(query, until=edge), ranking_edge(query, 1000)):
        steps = bound_plan(index, statement)
        assert any("ix_artifact_metrics_rank" in s for s in steps), steps
        assert not any("MULTI-INDEX OR" in s or "TEMP B-TREE" in s for s in steps), steps


@pytest.mark.parametrize(
    ("driver", "index_name"),
    [(("label", "ds"), "ix_artifact_labels_str"), (("tag", "t"), "ix_artifact_tags_tag")],
)
def test_a_driven_sort_starts_from_the_filters_own_index(
    filled_sqlite: Any, driver: plans.Driver, index_name: str
) -> None:
    index, _ = filled_sqlite
    query = ArtifactQuery(
        equals={"session_id": "s", "kind": "model"},
        labels={"ds": "d1", "seed": 1},
        tags_all=("t",),
        metric="acc",
        metric_order="max",
        limit=2,
    )
    steps = plan(index, build_select(query, sort=True, drivers=(driver,)))
    # The artifact rows are looked up by primary key from the driver's ids, read off its
    # index entries alone (kind included); no scope's or metric's index is walked.
    assert steps[0] == "SEARCH artifacts USING INDEX sqlite_autoindex_artifacts_1 (artifact_id=?)"
    assert any(f"COVERING INDEX {index_name}" in s for s in steps), steps
    assert not any("ix_artifacts_kind" in s or "ix_artifacts_session" in s for s in steps), steps


def test_the_filters_that_pass_few_drive_together(filled: Any) -> None:
    index, rows = filled
    query = ArtifactQuery(
        equals={"kind": "model", "session_id": "s"},
        labels={"ds": "d1", "seed": 1},
        tags_all=("t",),
        metric="acc",
        metric_order="max",
    )
    with index.engine.connect() as conn:
        chosen = drive.choose(conn, query)
        # A filter passing more than SPREAD times the smallest stays a row-by-row check.
        alone = replace(query, labels={"ds": "d1", "seed": 1}, tags_all=())
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(drive, "SPREAD", 1)
            narrow = drive.choose(conn, alone)
        bare = drive.choose(conn, replace(query, labels={}, tags_all=()))
    # Of the models, a fifth have ds = d1, a half seed = 1, a third the tag: all within the
    # spread of the smallest, so all three are intersected; the session passes every one.
    models = [a for a in rows if a.kind == "model"]
    assert set(chosen.drivers) == {("label", "ds"), ("label", "seed"), ("tag", "t")}
    assert chosen.rows == len(
        [a for a in models if a.labels == {"ds": "d1", "seed": 1} and "t" in a.tags]
    )
    assert narrow.drivers == (("label", "ds"),)
    assert narrow.rows == sum(1 for a in models if a.labels["ds"] == "d1")
    # Only the scope is left: its own index, the planner's way in.
    assert bare == drive.Drive((), len(rows))


@pytest.mark.parametrize("order", ["max", "min"])
def test_a_driven_sort_reads_rows_down_the_ranking_until_the_page_is_full(
    filled: Any, order: str
) -> None:
    # The run is not a driver: two in three of the ids the label passes are read and left
    # out, so a long page takes several stretches; a cursor starts the ranking after it.
    index, rows = filled
    query = ArtifactQuery(
        equals={"kind": "model", "run_id": "r2"},
        labels={"seed": 1},
        metric="acc",
        metric_order=order,  # type: ignore[arg-type]
    )
    want = expected(rows, query)
    assert len(want) > 8
    seed = drive.Drive((("label", "seed"),), len(rows))
    with index.engine.connect() as conn:
        ids = tuple(str(i) for i in conn.execute(plans.driven_ids(query, seed.drivers)).scalars())
        for chosen in (seed, drive.Drive(seed.drivers, len(ids), ids)):
            for limit in (1, 7, len(want), 500):
                page = drive.driven_sort(conn, replace(query, limit=limit), chosen)
                assert [r.artifact_id for r in page] == want[:limit]
            third = next(a for a in rows if a.artifact_id == want[2])
            assert third.created_at is not None
            after = QueryPosition(
                created_at=format_time(third.created_at),
                artifact_id=third.artifact_id,
                metric_value=third.metrics["acc"],
            )
            rest = drive.driven_sort(conn, replace(query, limit=500, after=after), chosen)
            assert [r.artifact_id for r in rest] == want[3:]


def assert_driven_pages_match(
    index: SqlIndex, rows: list[Artifact], limit: int, reader: Reader | None = None
) -> None:
    """Newest-first pages of every shape of ``QUERIES`` equal Python's answer over ``rows``
    (what ``reader`` may read), through the plain plan and through each driven one."""
    driven_shapes = 0
    for shape in QUERIES:
        query = ArtifactQuery(limit=limit, reader=reader, **shape)  # type: ignore[arg-type]
        want = [
            a.artifact_id
            for a in sorted(rows, key=lambda a: (a.created_at, a.artifact_id), reverse=True)
            if all(getattr(a, k) == v for k, v in query.equals.items())
            and all(a.labels.get(k) == v for k, v in query.labels.items())
            and set(query.tags_all) <= set(a.tags)
        ][:limit]
        assert [a.artifact_id for a in index.query(query)] == want, shape
        with index.engine.connect() as conn:
            chosen = drive.unranked_drive(conn, query)
            if chosen is not None:
                driven_shapes += 1
                for ids in (None, chosen.ids):
                    driven = build_select(query, drivers=chosen.drivers, driven=ids)
                    assert [r.artifact_id for r in conn.execute(driven)] == want, shape
    assert driven_shapes >= 3


@pytest.mark.parametrize("limit", [1, 3, 50])
def test_a_driven_newest_first_page_equals_the_plain_one(filled: Any, limit: int) -> None:
    index, rows = filled
    assert_driven_pages_match(index, rows, limit)


def test_statistics_are_gathered_once_the_table_is_big_enough(tmp_path: Path) -> None:
    index = open_index(f"sqlite:///{tmp_path / 'index.db'}")
    assert isinstance(index, SqlIndex)
    try:
        index.commit_writes([ArtifactWrite(artifact=a) for a in corpus(MIN_ROWS - 1)])
        index.query(ArtifactQuery(limit=1))
        with index.engine.connect() as conn:
            assert is_stale(conn) is False
        index.commit_writes([ArtifactWrite(artifact=a) for a in corpus(2)])
        with index.engine.connect() as conn:
            assert is_stale(conn) is True
        index.query(ArtifactQuery(limit=1))  # a search gathers them
        with index.engine.connect() as conn:
            assert is_stale(conn) is False
            tables = {r[0] for r in conn.execute(sa.text("SELECT tbl FROM sqlite_stat1"))}
        assert {"artifacts", "artifact_metrics"} <= tables
    finally:
        index.close()


# -- with a reader: the access filter rides every walk, sort and drive ---------------------


@dataclass(frozen=True)
class Shared:
    index: SqlIndex
    rows: list[Artifact]
    reader: Reader
    granted: frozenset[str]

    def readable(self) -> list[Artifact]:
        r = self.reader
        return [
            a
            for a in self.rows
            if a.user_id == r.user_id or a.org_id == r.org_id or a.artifact_id in self.granted
        ]


def shared_corpus(index: Index, orgs: list[str]) -> tuple[list[Artifact], frozenset[str]]:
    """``corpus(120)`` spread over users and orgs, a few of it granted to the reader."""
    tenancy = tenancy_of(index)
    rows = [
        replace(a, user_id=f"u{i % 4}", org_id=orgs[i % 5 % 3]) for i, a in enumerate(corpus(120))
    ]
    index.commit_writes([ArtifactWrite(artifact=a) for a in rows])
    granted: set[str] = set()
    for i, a in enumerate(rows):
        if i % 11 == 0:
            tenancy.add_grant(a.artifact_id, email="Reader@Example.com", granted_by="x")
            granted.add(a.artifact_id)
        elif i % 13 == 0:
            tenancy.add_grant(a.artifact_id, org_id=orgs[0], granted_by="x")
            granted.add(a.artifact_id)
    return rows, frozenset(granted)


@pytest.fixture
def shared(index: Index) -> Shared:
    """Every index backend, holding ``corpus(120)`` of three orgs; the reader is u1 of the
    first org, with grants to its email and org."""
    assert isinstance(index, SqlIndex)
    orgs = [tenancy_of(index).create_org(name).org_id for name in ("o1", "o2", "o3")]
    rows, granted = shared_corpus(index, orgs)
    reader = Reader(user_id="u1", org_id=orgs[0], email="reader@example.com")
    return Shared(index, rows, reader, granted)


@pytest.mark.parametrize(
    ("first", "most"), [(3, 4), (3, 1000), (2000, 64000)], ids=["sorts", "walks", "default"]
)
@pytest.mark.parametrize("order", ["max", "min"])
def test_walks_and_sorts_with_a_reader_rank_like_python(
    shared: Shared, monkeypatch: pytest.MonkeyPatch, first: int, most: int, order: str
) -> None:
    monkeypatch.setattr(satchel.index.sql, "FIRST_WALK", first)
    monkeypatch.setattr(plans, "MAX_WALK", most)
    readable = shared.readable()
    assert 0 < len(readable) < len(shared.rows)
    for shape in QUERIES:
        query = ArtifactQuery(
            metric="acc",
            metric_order=order,  # type: ignore[arg-type]
            reader=shared.reader,
            **shape,  # type: ignore[arg-type]
        )
        want = expected(readable, query)
        for limit in (1, 5, 200):
            got = [a.artifact_id for a in shared.index.query(replace(query, limit=limit))]
            assert got == want[:limit], (shape, limit)


@pytest.mark.parametrize("limit", [1, 3, 50])
def test_a_driven_newest_first_page_with_a_reader_equals_python(shared: Shared, limit: int) -> None:
    assert_driven_pages_match(shared.index, shared.readable(), limit, shared.reader)


def test_a_reader_who_reads_few_starts_from_what_it_may_read(index: Index) -> None:
    """A guest shown a few artifacts of a large index: its grants and its own org's rows are
    the way in, newest first and ranked, with or without a kind, on both dialects."""
    assert isinstance(index, SqlIndex)
    tenancy = tenancy_of(index)
    home, guests = tenancy.create_org("home").org_id, tenancy.create_org("guests").org_id
    rows = [replace(a, org_id=home, user_id="u") for a in corpus(300)]
    rows[7] = replace(rows[7], org_id=guests)
    index.commit_writes([ArtifactWrite(artifact=a) for a in rows])
    granted = {rows[i].artifact_id for i in (3, 50, 51, 200)}
    for aid in sorted(granted):
        tenancy.add_grant(aid, email="guest@guests.example", granted_by="u")
    reader = Reader(user_id="guest", org_id=guests, email="Guest@Guests.example")
    readable = [a for a in rows if a.artifact_id in granted or a.org_id == guests]
    for shape in ({}, {"equals": {"kind": "model"}}, {"labels": {"seed": 1}}):
        query = ArtifactQuery(limit=3, reader=reader, **shape)  # type: ignore[arg-type]
        with index.engine.connect() as conn:
            chosen = drive.unranked_drive(conn, query)
        assert chosen is not None
        assert ("reader", "") in chosen.drivers, shape
        want = [
            a.artifact_id
            for a in sorted(readable, key=lambda a: (a.created_at, a.artifact_id), reverse=True)
            if all(getattr(a, k) == v for k, v in query.equals.items())
            and all(a.labels.get(k) == v for k, v in query.labels.items())
        ]
        assert [a.artifact_id for a in index.query(query)] == want[:3], shape
        ranked = replace(query, metric="acc", metric_order="max", limit=2)
        assert [a.artifact_id for a in index.query(ranked)] == expected(readable, ranked)[:2]
    # A reader of the big org counts no further than READER_CAP, and then does not drive.
    member = ArtifactQuery(limit=3, reader=Reader(user_id="u", org_id=home, email="u@h.example"))
    with index.engine.connect() as conn, pytest.MonkeyPatch.context() as patch:
        assert drive.unranked_drive(conn, member) is not None  # 300 of 300: cheap either way
        patch.setattr(drive, "READER_CAP", 100)
        assert drive.unranked_drive(conn, member) is None
    assert len(index.query(member)) == 3


def test_a_reader_keeps_the_plans(tmp_path: Path) -> None:
    """The access filter is checked on the rows a plan reads; it never changes the plan:
    best still reads the ranking index in order, a driven sort still starts from its
    driver's index entries, and no scope's index is walked instead."""
    index = open_index(f"sqlite:///{tmp_path / 'index.db'}")
    assert isinstance(index, SqlIndex)
    try:
        orgs = [tenancy_of(index).create_org(name).org_id for name in ("o1", "o2", "o3")]
        shared_corpus(index, orgs)
        reader = Reader(user_id="u1", org_id=orgs[0], email="reader@example.com")
        query = ArtifactQuery(
            equals={"session_id": "s", "kind": "model"},
            labels={"ds": "d1"},
            metric="acc",
            metric_order="max",
            limit=2,
            reader=reader,
        )
        edge = QueryPosition(
            created_at="2026-01-01T00:00:30.000000Z", artifact_id="Z", metric_value=0.2
        )
        steps = plan(index, build_select(query, until=edge))
        assert any("ix_artifact_metrics_rank" in s for s in steps), steps
        assert not any("TEMP B-TREE FOR ORDER BY" in s for s in steps), steps
        assert not any("ix_artifacts_user" in s or "ix_artifacts_org" in s for s in steps), steps
        driven = build_select(query, sort=True, drivers=(("label", "ds"),))
        steps = plan(index, driven)
        assert steps[0] == (
            "SEARCH artifacts USING INDEX sqlite_autoindex_artifacts_1 (artifact_id=?)"
        ), steps
        assert any("COVERING INDEX ix_artifact_labels_str" in s for s in steps), steps
        assert not any("ix_artifacts_user" in s or "ix_artifacts_org" in s for s in steps), steps
        # The grant lookup is one probe of a grants index per artifact.
        assert any("grants USING" in s and "INDEX" in s for s in steps), steps
        # Driven by the reader: the rows its indexes list, looked up by primary key.
        steps = plan(index, build_select(query, sort=True, drivers=(("reader", ""),)))
        assert steps[0] == (
            "SEARCH artifacts USING INDEX sqlite_autoindex_artifacts_1 (artifact_id=?)"
        ), steps
        for way_in in ("ix_artifacts_user", "ix_artifacts_org", "ix_grants_email", "ix_grants_org"):
            assert any(way_in in s for s in steps), (way_in, steps)
        assert not any("ix_artifacts_kind" in s for s in steps), steps
    finally:
        index.close()


WHEN = "2026-01-01T00:00:00.000000Z"


@contextmanager
def migrated_to(url: str, revision: str) -> Iterator[sa.Connection]:
    """A transaction on an index at ``revision``, for rows written as that schema had them."""
    engine = sa.create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            yield conn
    finally:
        engine.dispose()


def insert_artifact(conn: sa.Connection, artifact_id: str, kind: str | None) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO artifacts (artifact_id, name, kind, status, created_at, "
            "updated_at, tags, labels, metrics, pinned) VALUES "
            "(:id, :id, :kind, 'completed', :when, :when, '[]', '{}', '{}', 0)"
        ),
        {"id": artifact_id, "kind": kind, "when": WHEN},
    )


def test_migration_0003_backfills_metric_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'index.db'}"
    when = WHEN
    with migrated_to(url, "0002") as conn:
        for i, kind in zip(range(3), itertools.cycle(["model", None]), strict=False):
            insert_artifact(conn, f"a{i}", kind)
            conn.execute(
                sa.text(
                    "INSERT INTO artifact_metrics (artifact_id, name, value) "
                    "VALUES (:id, 'acc', :v)"
                ),
                {"id": f"a{i}", "v": i / 10},
            )
    index = open_index(url)
    try:
        with index.engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT artifact_id, kind, created_at FROM artifact_metrics ORDER BY 1")
            ).all()
    finally:
        index.close()
    assert [tuple(r) for r in rows] == [
        ("a0", "model", when),
        ("a1", None, when),
        ("a2", "model", when),
    ]


def test_migration_0005_copies_the_kind_and_clusters_labels_and_metrics(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'index.db'}"
    when = WHEN
    with migrated_to(url, "0004") as conn:
        for i, kind in enumerate(["model", None]):
            insert_artifact(conn, f"a{i}", kind)
            conn.execute(
                sa.text(
                    "INSERT INTO artifact_labels (artifact_id, key, vtype, vstr) "
                    "VALUES (:id, 'ds', 's', 'd1')"
                ),
                {"id": f"a{i}"},
            )
            conn.execute(
                sa.text("INSERT INTO artifact_tags (artifact_id, tag) VALUES (:id, 't')"),
                {"id": f"a{i}"},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO artifact_metrics (artifact_id, name, value, kind, "
                    "created_at) VALUES (:id, 'acc', :v, :kind, :when)"
                ),
                {"id": f"a{i}", "v": i / 10, "kind": kind, "when": when},
            )
    index = open_index(url)
    try:
        with index.engine.connect() as conn:
            labels = conn.execute(
                sa.text("SELECT artifact_id, kind FROM artifact_labels ORDER BY 1")
            ).all()
            tags = conn.execute(sa.text("SELECT artifact_id, kind FROM artifact_tags ORDER BY 1"))
            tag_rows = [tuple(r) for r in tags]
            metrics = conn.execute(sa.text("SELECT * FROM artifact_metrics ORDER BY 1")).all()
            listed = conn.execute(
                sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
            )
            storage = {str(r[0]): str(r[1]) for r in listed}
        found = index.query(ArtifactQuery(equals={"kind": "model"}, labels={"ds": "d1"}))
    finally:
        index.close()
    assert [tuple(r) for r in labels] == [("a0", "model"), ("a1", None)]
    assert tag_rows == [("a0", "model"), ("a1", None)]
    assert [a.artifact_id for a in found] == ["a0"]
    assert [tuple(r) for r in metrics] == [
        ("a0", "acc", 0.0, "model", when),
        ("a1", "acc", 0.1, None, when),
    ]
    # Rebuilt clustered by artifact: one lookup per probe.
    for table in ("artifact_labels", "artifact_metrics"):
        assert storage[table].rstrip().endswith("WITHOUT ROWID"), storage[table]
    assert "WITHOUT ROWID" not in storage["artifact_tags"]


def test_a_single_threaded_caller_keeps_one_warm_connection(tmp_path: Path) -> None:
    """Each SQLite connection warms its own memory map and statement cache: the pool hands
    out the connection returned last, so sequential queries do not cycle through cold ones."""
    index = open_sqlite_index(tmp_path / "index.db")
    used: list[int] = []
    sa.event.listen(
        index._engine, "checkout", lambda dbapi, _record, _proxy: used.append(id(dbapi))
    )
    try:
        with index._engine.connect() as a, index._engine.connect() as b:  # two in the pool
            a.exec_driver_sql("SELECT 1")
            b.exec_driver_sql("SELECT 1")
        used.clear()
        for _ in range(6):
            index.query(ArtifactQuery(limit=5))
        assert len(set(used)) == 1, used
    finally:
        index.close()
