"""Conformance suite for the ``Index`` Protocol (``satchel.index.base``).

Runs on every backend of the ``index`` fixture (SQLite now, PostgreSQL later) and uses only
the Protocol. Artifacts are built directly, not through the store, so each query feature is
tested on exactly the rows it needs. File paths are plain ASCII letters so that "sorted by
path" means the same under every database collation.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from satchel.errors import NotFoundError, SatchelError, ValidationError
from satchel.index import ArtifactQuery, ArtifactWrite, Index
from satchel.index.base import KindListing, Reader
from satchel.models import Artifact, ArtifactFile, Occurrence, Run, format_time, new_id
from satchel.tenancy import tenancy_of

T0 = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_artifact(*, created: float = 0.0, **fields: Any) -> Artifact:
    """A completed one-file artifact; any field can be overridden."""
    data = fields.pop("data", b"payload")
    values: dict[str, Any] = {
        "artifact_id": new_id(),
        "name": "file.txt",
        "kind": "text",
        "status": "completed",
        "run_id": "run-1",
        "sha256": sha(data),
        "bytes": len(data),
        "mime": "text/plain",
        "created_at": at(created),
        "updated_at": at(created),
        "files": [ArtifactFile(path="file.txt", sha256=sha(data), bytes=len(data))],
    }
    values.update(fields)
    return Artifact(**values)


def commit(index: Index, *artifacts: Artifact) -> None:
    index.commit_writes([ArtifactWrite(artifact=a) for a in artifacts])


def ids(artifacts: Iterable[Artifact]) -> list[str]:
    return [a.artifact_id for a in artifacts]


def query_ids(index: Index, **kwargs: Any) -> list[str]:
    return ids(index.query(ArtifactQuery(**kwargs)))


def assert_same_artifact(got: Artifact | None, expected: Artifact) -> None:
    """Equal field by field, and label values keep their JSON type (True is not 1)."""
    assert got is not None
    assert got == expected
    assert {k: type(v) for k, v in got.labels.items()} == {
        k: type(v) for k, v in expected.labels.items()
    }
    assert got.created_at is not None
    assert got.created_at.tzinfo is not None
    assert got.created_at.utcoffset() == timedelta(0)


# -- commit and get -------------------------------------------------------------------------


def full_artifact() -> Artifact:
    files = [
        ArtifactFile(path="gamma.bin", sha256=sha(b"g"), bytes=5 * 2**30, mime=None),
        ArtifactFile(path="alpha.txt", sha256=sha(b"a"), bytes=1, mime="text/plain"),
        ArtifactFile(path="beta.json", sha256=sha(b"b"), bytes=2, mime="application/json"),
    ]
    return Artifact(
        artifact_id=new_id(),
        name="checkpoint dir",
        kind="checkpoint",
        status="completed",
        run_id="run-7",
        graph_id="graph-1",
        node_id="node-2",
        tool_name="train",
        tool_version="1.2.3",
        model_id="resnet",
        model_version="50",
        sha256=sha(b"tree"),
        bytes=5 * 2**30 + 3,
        mime="inode/directory",
        created_at=at(1.5),
        updated_at=at(2.25),
        tags=["best", "report", "ünïcode"],
        labels={"experiment": "A1", "epochs": 3, "lr": 0.001, "final": True, "neg": -2},
        metrics={"accuracy": 0.98, "loss": 0.0123, "step": 1000.0},
        pinned=True,
        uri="satchel://run-7/checkpoint",
        preview_uri="satchel://run-7/preview.png",
        org_id="org-1",
        user_id="user-1",
        client_id="client-1",
        app_id="app-1",
        session_id="session-1",
        files=files,
    )


def test_commit_and_get_round_trip(index: Index) -> None:
    artifact = full_artifact()
    index.commit_writes([ArtifactWrite(artifact=artifact)])
    expected = dataclasses.replace(artifact, files=sorted(artifact.files, key=lambda f: f.path))
    assert_same_artifact(index.get(artifact.artifact_id), expected)
    assert_same_artifact(index.query(ArtifactQuery())[0], expected)


def test_round_trip_of_minimal_artifact(index: Index) -> None:
    artifact = Artifact(artifact_id=new_id(), created_at=at(0), updated_at=at(0))
    commit(index, artifact)
    assert_same_artifact(index.get(artifact.artifact_id), artifact)


def test_get_unknown_id_is_none(index: Index) -> None:
    assert index.get("no-such-artifact") is None
    commit(index, make_artifact())
    assert index.get(new_id()) is None


def test_a_key_holding_nul_finds_nothing(index: Index) -> None:
    """Lookups by a caller-given key holding U+0000 answer as for an unknown key on every
    dialect (PostgreSQL refuses NUL in a text parameter: never an ``IndexBackendError``)."""
    artifact = make_artifact()
    commit(index, artifact)
    index.ensure_run(Run(run_id="run-1", status="running", started_at=at(0)))
    for key in ("\x00", artifact.artifact_id + "\x00", "run-1\x00"):
        assert index.get(key) is None
        assert index.get_many([key, artifact.artifact_id]) == [index.get(artifact.artifact_id)]
        assert index.set_pinned(key, True, updated_at=format_time(at(1))) is False
        assert index.occurrences(key) == []
        assert index.inline_blob(key) is None
        assert index.blob_referenced(key) is False
        assert index.get_run(key) is None
        assert index.set_run_status(key, "done", ended_at=None) is False
        with pytest.raises(NotFoundError):
            index.delete_artifact(key)
        with pytest.raises(NotFoundError):
            index.delete_run(key)
    assert index.get(artifact.artifact_id) is not None


def test_commit_many_in_one_batch(index: Index) -> None:
    artifacts = [make_artifact(created=i, name=f"n{i}") for i in range(20)]
    commit(index, *artifacts)
    for artifact in artifacts:
        assert index.get(artifact.artifact_id) == artifact
    assert query_ids(index) == ids(reversed(artifacts))


def test_commit_of_empty_batch_is_harmless(index: Index) -> None:
    index.commit_writes([])
    assert index.query(ArtifactQuery()) == []


# -- queries: equality, tags, labels --------------------------------------------------------


def test_query_equality(index: Index) -> None:
    a = make_artifact(created=1, run_id="r1", kind="metric", user_id="u1")
    b = make_artifact(created=2, run_id="r1", kind="log", user_id="u2")
    c = make_artifact(created=3, run_id="r2", kind="metric", user_id="u1")
    commit(index, a, b, c)
    assert query_ids(index, equals={"run_id": "r1"}) == ids([b, a])
    assert query_ids(index, equals={"kind": "metric"}) == ids([c, a])
    assert query_ids(index, equals={"run_id": "r1", "kind": "metric"}) == ids([a])
    assert query_ids(index, equals={"run_id": "r3"}) == []
    assert query_ids(index, equals={}) == ids([c, b, a])


def test_query_equality_none_means_is_null(index: Index) -> None:
    with_session = make_artifact(created=1, session_id="s1", kind="text")
    without = make_artifact(created=2, session_id=None, kind=None)
    commit(index, with_session, without)
    assert query_ids(index, equals={"session_id": None}) == ids([without])
    assert query_ids(index, equals={"kind": None}) == ids([without])
    assert query_ids(index, equals={"session_id": "s1"}) == ids([with_session])
    # "" is a value, not NULL
    assert query_ids(index, equals={"session_id": ""}) == []


def test_query_refuses_unknown_equality_column(index: Index) -> None:
    commit(index, make_artifact())
    for column in ("name", "sha256", "artifact_id; DROP TABLE artifacts", "nope"):
        with pytest.raises(ValidationError):
            index.query(ArtifactQuery(equals={column: "x"}))
    assert len(index.query(ArtifactQuery())) == 1


def test_query_tags_all(index: Index) -> None:
    both = make_artifact(created=1, tags=["x", "y"])
    only_x = make_artifact(created=2, tags=["x"])
    only_y = make_artifact(created=3, tags=["y", "z"])
    none = make_artifact(created=4, tags=[])
    commit(index, both, only_x, only_y, none)
    assert query_ids(index, tags_all=["x", "y"]) == ids([both])
    assert query_ids(index, tags_all=["x"]) == ids([only_x, both])
    assert query_ids(index, tags_all=["y"]) == ids([only_y, both])
    assert query_ids(index, tags_all=["x", "z"]) == []
    assert query_ids(index, tags_all=["missing"]) == []
    assert query_ids(index, tags_all=[]) == ids([none, only_y, only_x, both])


def test_query_labels_are_typed(index: Index) -> None:
    as_int = make_artifact(created=1, labels={"n": 3})
    as_float = make_artifact(created=2, labels={"n": 3.0})
    as_str = make_artifact(created=3, labels={"n": "3"})
    as_true = make_artifact(created=4, labels={"n": True})
    as_one = make_artifact(created=5, labels={"n": 1})
    as_false = make_artifact(created=6, labels={"n": False})
    as_zero = make_artifact(created=7, labels={"n": 0})
    other_key = make_artifact(created=8, labels={"m": 3})
    commit(index, as_int, as_float, as_str, as_true, as_one, as_false, as_zero, other_key)

    assert query_ids(index, labels={"n": 3}) == ids([as_float, as_int])
    assert query_ids(index, labels={"n": 3.0}) == ids([as_float, as_int])
    assert query_ids(index, labels={"n": "3"}) == ids([as_str])
    assert query_ids(index, labels={"n": True}) == ids([as_true])
    assert query_ids(index, labels={"n": 1}) == ids([as_one])
    assert query_ids(index, labels={"n": 1.0}) == ids([as_one])
    assert query_ids(index, labels={"n": False}) == ids([as_false])
    assert query_ids(index, labels={"n": 0}) == ids([as_zero])
    assert query_ids(index, labels={"n": "1"}) == []
    assert query_ids(index, labels={"n": "True"}) == []
    assert query_ids(index, labels={"n": 3.5}) == []
    assert query_ids(index, labels={"m": 3}) == ids([other_key])


def test_query_labels_have_no_wildcards(index: Index) -> None:
    percent = make_artifact(created=1, labels={"p": "50%"})
    fifty = make_artifact(created=2, labels={"p": "50x"})
    underscore = make_artifact(created=3, labels={"p": "a_c"})
    abc = make_artifact(created=4, labels={"p": "abc"})
    backslash = make_artifact(created=5, labels={"p": "a\\c"})
    upper = make_artifact(created=6, labels={"p": "ABC"})
    commit(index, percent, fifty, underscore, abc, backslash, upper)
    assert query_ids(index, labels={"p": "50%"}) == ids([percent])
    assert query_ids(index, labels={"p": "a_c"}) == ids([underscore])
    assert query_ids(index, labels={"p": "a\\c"}) == ids([backslash])
    assert query_ids(index, labels={"p": "abc"}) == ids([abc])  # case-sensitive
    assert query_ids(index, labels={"p": "%"}) == []
    assert query_ids(index, labels={"p": "_"}) == []
    assert query_ids(index, labels={"p": "50_"}) == []
    assert query_ids(index, labels={"p": "a%"}) == []


def test_query_several_labels_must_all_match(index: Index) -> None:
    match = make_artifact(created=1, labels={"project": "p1", "epochs": 10, "final": True})
    half = make_artifact(created=2, labels={"project": "p1", "epochs": 5, "final": True})
    commit(index, match, half)
    assert query_ids(index, labels={"project": "p1", "epochs": 10}) == ids([match])
    assert query_ids(index, labels={"project": "p1", "final": True}) == ids([half, match])
    assert query_ids(index, labels={"project": "p1", "epochs": 10, "final": False}) == []


# -- queries: time, metrics, limit, order -------------------------------------------------


def test_query_created_since(index: Index) -> None:
    old = make_artifact(created=0)
    exact = make_artifact(created=10)
    new = make_artifact(created=20)
    commit(index, old, exact, new)
    assert query_ids(index, created_since=format_time(at(10))) == ids([new, exact])
    assert query_ids(index, created_since=format_time(at(10.000001))) == ids([new])
    assert query_ids(index, created_since=format_time(at(-1))) == ids([new, exact, old])
    assert query_ids(index, created_since=format_time(at(21))) == []


def test_query_created_since_accepts_any_rfc3339_form(index: Index) -> None:
    # Stored times are fixed-width text; a caller's "…:17Z" or "+01:00" must still compare as
    # a time, not as text ("17Z" sorts after "17.123456Z").
    before = make_artifact(created=9)  # 05:06:16.123456Z
    after = make_artifact(created=10)  # 05:06:17.123456Z
    commit(index, before, after)
    assert query_ids(index, created_since="2026-03-04T05:06:17Z") == ids([after])
    assert query_ids(index, created_since="2026-03-04T06:06:17+01:00") == ids([after])
    assert query_ids(index, created_since="2026-03-04T05:06:16.5Z") == ids([after])
    assert query_ids(index, created_since="2026-03-04T05:06:16Z") == ids([after, before])


@pytest.mark.parametrize("text", ["yesterday", "2026-03-04", "2026-03-04T05:06:17", "' OR 1=1"])
def test_query_created_since_refuses_non_times(index: Index, text: str) -> None:
    commit(index, make_artifact())
    with pytest.raises(ValidationError):
        index.query(ArtifactQuery(created_since=text))


def test_query_metric_order(index: Index) -> None:
    low = make_artifact(created=1, metrics={"acc": -0.5})
    high = make_artifact(created=2, metrics={"acc": 0.9, "loss": 0.1})
    mid = make_artifact(created=3, metrics={"acc": 0.7})
    without = make_artifact(created=4, metrics={"loss": 0.3})
    empty = make_artifact(created=5)
    commit(index, low, high, mid, without, empty)
    assert query_ids(index, metric="acc", metric_order="max") == ids([high, mid, low])
    assert query_ids(index, metric="acc", metric_order="min") == ids([low, mid, high])
    assert query_ids(index, metric="acc", metric_order="max", limit=1) == ids([high])
    assert query_ids(index, metric="loss", metric_order="min") == ids([high, without])
    assert query_ids(index, metric="missing", metric_order="max") == []


def test_query_metric_ties_newest_first(index: Index) -> None:
    first = make_artifact(created=1, metrics={"acc": 0.5})
    second = make_artifact(created=2, metrics={"acc": 0.5})
    best = make_artifact(created=0, metrics={"acc": 0.75})
    commit(index, first, second, best)
    assert query_ids(index, metric="acc", metric_order="max") == ids([best, second, first])
    assert query_ids(index, metric="acc", metric_order="min") == ids([second, first, best])


def test_query_metric_order_with_filters(index: Index) -> None:
    a = make_artifact(created=1, run_id="r1", metrics={"acc": 0.9})
    b = make_artifact(created=2, run_id="r2", metrics={"acc": 0.95})
    c = make_artifact(created=3, run_id="r1", metrics={"acc": 0.8}, labels={"k": "v"})
    commit(index, a, b, c)
    assert query_ids(index, equals={"run_id": "r1"}, metric="acc", metric_order="max") == ids(
        [a, c]
    )
    assert query_ids(index, labels={"k": "v"}, metric="acc", metric_order="max") == ids([c])


def test_query_limit(index: Index) -> None:
    artifacts = [make_artifact(created=i) for i in range(5)]
    commit(index, *artifacts)
    newest_first = ids(reversed(artifacts))
    assert query_ids(index, limit=2) == newest_first[:2]
    assert query_ids(index, limit=5) == newest_first
    assert query_ids(index, limit=50) == newest_first
    assert query_ids(index, limit=0) == []
    assert query_ids(index, limit=None) == newest_first


def test_query_newest_first_ties_by_artifact_id_desc(index: Index) -> None:
    same_time = [make_artifact(created=5) for _ in range(4)]
    older = make_artifact(created=1)
    newer = make_artifact(created=9)
    # Commit in an order that is neither id order nor its reverse.
    commit(index, same_time[2], older, same_time[0], newer, same_time[3], same_time[1])
    expected = [newer.artifact_id, *sorted(ids(same_time), reverse=True), older.artifact_id]
    assert query_ids(index) == expected


def test_query_orders_by_time_not_by_id(index: Index) -> None:
    made_first = make_artifact(created=100)  # smaller ULID, newer time
    made_second = make_artifact(created=0)
    assert made_first.artifact_id < made_second.artifact_id
    commit(index, made_first, made_second)
    assert query_ids(index) == ids([made_first, made_second])


def test_query_returns_files_of_each_artifact(index: Index) -> None:
    one = make_artifact(created=1, data=b"one")
    two = make_artifact(
        created=2,
        files=[
            ArtifactFile(path="b", sha256=sha(b"b"), bytes=1),
            ArtifactFile(path="a", sha256=sha(b"a"), bytes=1),
        ],
    )
    commit(index, one, two)
    by_id = {a.artifact_id: a for a in index.query(ArtifactQuery())}
    assert by_id[one.artifact_id].files == one.files
    assert [f.path for f in by_id[two.artifact_id].files] == ["a", "b"]


# -- pending artifacts ------------------------------------------------------------------------


def test_pending_artifacts_hidden_unless_asked(index: Index) -> None:
    done = make_artifact(created=1)
    pending = make_artifact(
        created=2,
        status="pending",
        files=[ArtifactFile(path="x", sha256=sha(b"x"), bytes=1, status="pending")],
    )
    commit(index, done, pending)
    assert index.get(pending.artifact_id) is None
    assert query_ids(index) == ids([done])
    assert query_ids(index, include_pending=True) == ids([pending, done])
    assert query_ids(index, include_pending=True, equals={"status": "pending"}) == ids([pending])
    listed = index.query(ArtifactQuery(include_pending=True, equals={"status": "pending"}))
    assert listed == [pending]


# -- pins ---------------------------------------------------------------------------------------


def test_set_pinned(index: Index) -> None:
    artifact = make_artifact(created=0, pinned=False)
    commit(index, artifact)
    assert index.set_pinned(artifact.artifact_id, True, updated_at=format_time(at(60))) is True
    got = index.get(artifact.artifact_id)
    assert got is not None
    assert got.pinned is True
    assert got.updated_at == at(60)
    assert got.created_at == artifact.created_at
    assert index.set_pinned(artifact.artifact_id, False, updated_at=format_time(at(61))) is True
    got = index.get(artifact.artifact_id)
    assert got is not None
    assert (got.pinned, got.updated_at) == (False, at(61))


def test_set_pinned_unknown_id_is_false(index: Index) -> None:
    assert index.set_pinned("no-such-artifact", True, updated_at=format_time(at(0))) is False
    other = make_artifact()
    commit(index, other)
    assert index.set_pinned(new_id(), True, updated_at=format_time(at(0))) is False
    assert index.get(other.artifact_id) == other


# -- runs -----------------------------------------------------------------------------------


def test_ensure_run_and_get_run(index: Index) -> None:
    run = Run(
        run_id="run-1",
        name="first",
        parent_run_id="parent",
        org_id="o1",
        user_id="u1",
        session_id="s1",
        status="running",
        started_at=at(0),
    )
    index.ensure_run(run)
    assert index.get_run("run-1") == run
    assert index.get_run("run-2") is None


def test_ensure_run_does_not_overwrite(index: Index) -> None:
    first = Run(run_id="run-1", name="first", status="running", started_at=at(0))
    index.ensure_run(first)
    index.ensure_run(
        Run(run_id="run-1", name="second", status="done", started_at=at(5), ended_at=at(6))
    )
    assert index.get_run("run-1") == first


def test_set_run_status(index: Index) -> None:
    index.ensure_run(Run(run_id="run-1", status="running", started_at=at(0)))
    assert index.set_run_status("run-1", "done", ended_at=format_time(at(30))) is True
    got = index.get_run("run-1")
    assert got is not None
    assert (got.status, got.started_at, got.ended_at) == ("done", at(0), at(30))
    assert index.set_run_status("run-1", "crashed", ended_at=None) is True
    got = index.get_run("run-1")
    assert got is not None
    assert (got.status, got.ended_at) == ("crashed", None)
    assert index.set_run_status("no-such-run", "failed", ended_at=None) is False
    assert index.get_run("no-such-run") is None


def test_commit_writes_records_new_run_only(index: Index) -> None:
    existing = Run(run_id="run-1", name="original", status="running", started_at=at(0))
    index.ensure_run(existing)
    fresh = Run(run_id="run-2", name="fresh", status="running", started_at=at(1))
    index.commit_writes(
        [
            ArtifactWrite(
                artifact=make_artifact(run_id="run-1"),
                run=Run(run_id="run-1", name="changed", status="done", started_at=at(9)),
            ),
            ArtifactWrite(artifact=make_artifact(run_id="run-2"), run=fresh),
            ArtifactWrite(artifact=make_artifact(run_id="run-2"), run=fresh),
        ]
    )
    assert index.get_run("run-1") == existing
    assert index.get_run("run-2") == fresh


# -- occurrences (lineage) ------------------------------------------------------------------


def test_commit_records_produced_occurrence(index: Index) -> None:
    artifact = make_artifact(created=3, run_id="run-1", node_id="node-1")
    commit(index, artifact)
    assert index.occurrences(artifact.artifact_id) == [
        Occurrence(
            artifact_id=artifact.artifact_id,
            run_id="run-1",
            node_id="node-1",
            event="produced",
            at=at(3),
        )
    ]
    assert index.occurrences("no-such-artifact") == []


def test_add_occurrences_oldest_first(index: Index) -> None:
    artifact = make_artifact(created=0, run_id="run-1", node_id=None)
    other = make_artifact(created=0, run_id="run-9")
    commit(index, artifact, other)
    used_late = Occurrence(
        artifact_id=artifact.artifact_id, run_id="run-3", node_id="n3", event="used", at=at(20)
    )
    used_early = Occurrence(
        artifact_id=artifact.artifact_id, run_id="run-2", node_id=None, event="used", at=at(10)
    )
    index.add_occurrences([used_late, used_early])
    index.add_occurrences([])
    got = index.occurrences(artifact.artifact_id)
    assert [(o.event, o.run_id, o.node_id, o.at) for o in got] == [
        ("produced", "run-1", None, at(0)),
        ("used", "run-2", None, at(10)),
        ("used", "run-3", "n3", at(20)),
    ]
    assert [o.event for o in index.occurrences(other.artifact_id)] == ["produced"]


def test_a_reader_sees_uses_by_the_runs_it_may_see(index: Index) -> None:
    artifact = make_artifact(created=0, run_id="made", org_id="org-a", user_id="ann")
    commit(index, artifact)
    for run_id, org, user in (("a-run", "org-a", "amy"), ("b-run", "org-b", "bob")):
        index.ensure_run(
            Run(run_id=run_id, org_id=org, user_id=user, status="running", started_at=at(0))
        )
    uses = [
        Occurrence(artifact_id=artifact.artifact_id, run_id=r, node_id=None, event="used", at=at(i))
        for i, r in enumerate(("a-run", "b-run", "unknown-run", None), start=1)
    ]
    index.add_occurrences(uses)

    def seen(user_id: str, org_id: str) -> list[str | None]:
        reader = Reader(user_id=user_id, org_id=org_id, email=f"{user_id}@example.com")
        got = index.occurrences(artifact.artifact_id, reader=reader)
        return [o.run_id for o in got]

    everything = ["made", "a-run", "b-run", "unknown-run", None]
    assert [o.run_id for o in index.occurrences(artifact.artifact_id)] == everything
    # The artifact's org: its own runs, and uses by runs the index does not hold.
    assert seen("ann", "org-a") == ["made", "a-run", "unknown-run", None]
    # A partner: its own runs only, never another organisation's.
    assert seen("bob", "org-b") == ["made", "b-run"]
    assert seen("cat", "org-c") == ["made"]


# -- inline blobs ---------------------------------------------------------------------------


def test_inline_blob_round_trip(index: Index) -> None:
    data = b"small bytes \x00\xff"
    artifact = make_artifact(data=data)
    index.commit_writes([ArtifactWrite(artifact=artifact, inline_blobs={sha(data): data})])
    assert index.inline_blob(sha(data)) == data
    assert index.inline_blob(sha(b"not stored")) is None


def test_inline_empty_blob(index: Index) -> None:
    artifact = make_artifact(data=b"")
    index.commit_writes([ArtifactWrite(artifact=artifact, inline_blobs={sha(b""): b""})])
    assert index.inline_blob(sha(b"")) == b""


def test_shared_inline_blob_is_stored_once(index: Index) -> None:
    data = b"same bytes"
    blobs = {sha(data): data}
    first = make_artifact(created=1, data=data)
    second = make_artifact(created=2, data=data)
    third = make_artifact(created=3, data=data)
    index.commit_writes(
        [
            ArtifactWrite(artifact=first, inline_blobs=blobs),
            ArtifactWrite(artifact=second, inline_blobs=blobs),
        ]
    )
    index.commit_writes([ArtifactWrite(artifact=third, inline_blobs=blobs)])
    assert index.inline_blob(sha(data)) == data
    assert query_ids(index) == ids([third, second, first])


# -- atomicity ------------------------------------------------------------------------------


def test_bad_batch_fails_whole(index: Index) -> None:
    good = make_artifact(created=1, data=b"good", tags=["t"], labels={"k": 1}, metrics={"m": 1})
    duplicate = make_artifact(created=2, artifact_id=good.artifact_id)
    run = Run(run_id="batch-run", status="running", started_at=at(0))
    with pytest.raises(SatchelError):
        index.commit_writes(
            [
                ArtifactWrite(artifact=good, inline_blobs={sha(b"good"): b"good"}, run=run),
                ArtifactWrite(artifact=duplicate),
            ]
        )
    assert index.get(good.artifact_id) is None
    assert index.query(ArtifactQuery(include_pending=True)) == []
    assert query_ids(index, tags_all=["t"]) == []
    assert query_ids(index, labels={"k": 1}) == []
    assert query_ids(index, metric="m", metric_order="max") == []
    assert index.inline_blob(sha(b"good")) is None
    assert index.get_run("batch-run") is None
    assert index.occurrences(good.artifact_id) == []
    # The index still works after the failed batch.
    commit(index, good)
    assert index.get(good.artifact_id) == good


def test_batch_colliding_with_committed_artifact_fails_whole(index: Index) -> None:
    existing = make_artifact(created=1, name="existing")
    commit(index, existing)
    fresh = make_artifact(created=2, name="fresh")
    clash = make_artifact(created=3, name="clash", artifact_id=existing.artifact_id)
    with pytest.raises(SatchelError):
        commit(index, fresh, clash)
    assert index.get(fresh.artifact_id) is None
    assert index.get(existing.artifact_id) == existing
    assert query_ids(index) == ids([existing])
    assert [o.event for o in index.occurrences(existing.artifact_id)] == ["produced"]


def test_duplicate_file_path_fails_whole(index: Index) -> None:
    file = ArtifactFile(path="same", sha256=sha(b"x"), bytes=1)
    bad = make_artifact(files=[file, file])
    good = make_artifact()
    with pytest.raises(SatchelError):
        commit(index, good, bad)
    assert index.query(ArtifactQuery(include_pending=True)) == []


def test_kinds_lists_each_kind_once_in_text_order(index: Index) -> None:
    assert isinstance(index, KindListing)
    assert index.kinds(10) == []
    kinds = ["log", "checkpoint", "log", "zeta", None, "checkpoint", "metric"]
    commit(index, *(make_artifact(kind=k, created=i) for i, k in enumerate(kinds)))
    expected = sorted({k for k in kinds if k is not None})
    assert index.kinds(10) == expected
    assert index.kinds(2) == expected[:2]


def test_kinds_for_a_reader_are_its_orgs_and_its_grants(index: Index) -> None:
    assert isinstance(index, KindListing)
    reader = Reader(user_id="u1", org_id="o1", email="u1@example.com")
    ours = [make_artifact(kind=k, org_id="o1", user_id="u1") for k in ("log", "checkpoint")]
    theirs = [make_artifact(kind=k, org_id="o2", user_id="u2") for k in ("secret", "dataset")]
    commit(index, *ours, *theirs)
    assert index.kinds(10, reader=reader) == ["checkpoint", "log"]
    assert index.kinds(1, reader=reader) == ["checkpoint"]
    tenancy = tenancy_of(index)
    org = tenancy.create_org("o-two")
    assert org.org_id  # grants name real orgs; the grant below names the reader's email
    tenancy.add_grant(theirs[1].artifact_id, email="U1@example.com", granted_by="u2")
    assert index.kinds(10, reader=reader) == ["checkpoint", "dataset", "log"]


def test_pending_of_lists_a_users_pending_artifacts_newest_first(index: Index) -> None:
    from satchel.index.uploads import uploads_of  # noqa: PLC0415 - the SQL ledger

    def pending(created: float, user: str) -> Artifact:
        made = make_artifact(created=created, user_id=user, org_id="o1")
        file = dataclasses.replace(made.files[0], status="pending")
        return dataclasses.replace(made, status="pending", files=[file])

    mine = [pending(1, "u1"), pending(3, "u1")]
    commit(index, *mine, pending(2, "u2"), make_artifact(created=4, user_id="u1"))
    ledger = uploads_of(index)
    assert ids(ledger.pending_of("u1", 10)) == [mine[1].artifact_id, mine[0].artifact_id]
    assert ids(ledger.pending_of("u1", 1)) == [mine[1].artifact_id]
    assert ledger.pending_of("nobody", 10) == []
