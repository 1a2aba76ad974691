"""Conformance suite for the optional ``VectorStore`` ability of an index.

Runs on every backend of the ``index`` fixture that has the ability (every backend must: a
backend without it fails here rather than skipping). Vectors are opaque bytes to the index.
"""

from __future__ import annotations

import pytest

from conformance.test_index import commit, make_artifact
from satchel.index import ArtifactQuery, Index
from satchel.index.base import LexicalSearch, VectorStore


@pytest.fixture
def store(index: Index) -> VectorStore:
    assert isinstance(index, VectorStore), f"{index.url} has no vector store"
    return index


def test_pending_documents_come_oldest_first_with_their_text(store: VectorStore) -> None:
    a = make_artifact(name="resnet_eval-report.json", kind="report", tags=["weekly"])
    b = make_artifact(name="b.txt", labels={"domain": "vision"}, metrics={"f1": 0.5})
    commit(store, a)  # type: ignore[arg-type]
    commit(store, b)  # type: ignore[arg-type]
    docs, position = store.pending_documents("m", 10)
    assert [i for i, _ in docs] == [a.artifact_id, b.artifact_id]
    assert "resnet eval report.json" in docs[0][1] and "weekly" in docs[0][1]
    assert "domain vision" in docs[1][1] and "f1" in docs[1][1]
    assert position > 0
    assert store.pending_documents("m", 1)[0] == docs[:1]


def test_stored_vectors_move_the_watermark(store: VectorStore) -> None:
    arts = [make_artifact(name=f"n{i}") for i in range(3)]
    commit(store, *arts)  # type: ignore[arg-type]
    docs, position = store.pending_documents("m", 2)
    store.store_vectors("m", [(i, i.encode()) for i, _ in docs], position)
    rest, _ = store.pending_documents("m", 10)
    assert [i for i, _ in rest] == [arts[2].artifact_id]
    assert store.pending_documents("other-model", 10)[0][0][0] == arts[0].artifact_id
    count, newest = store.vector_state("m")
    assert count == 2 and newest > 0
    rows = store.read_vectors("m", 0, 10)
    assert [(r[1], r[2]) for r in rows] == [(i, i.encode()) for i, _ in docs]
    assert store.read_vectors("m", rows[0][0], 10) == rows[1:]
    assert store.vector_state("other-model") == (0, 0)


def test_storing_twice_keeps_the_first_and_never_moves_back(store: VectorStore) -> None:
    a = make_artifact()
    commit(store, a)  # type: ignore[arg-type]
    _docs, position = store.pending_documents("m", 10)
    store.store_vectors("m", [(a.artifact_id, b"first")], position)
    store.store_vectors("m", [(a.artifact_id, b"second")], position)  # a racing process
    store.store_vectors("m", [], 0)  # an older position is ignored
    assert [r[2] for r in store.read_vectors("m", 0, 10)] == [b"first"]
    assert store.pending_documents("m", 10)[0] == []


def test_reset_forgets_one_model_or_all(store: VectorStore) -> None:
    a = make_artifact()
    commit(store, a)  # type: ignore[arg-type]
    for model in ("m1", "m2"):
        _, position = store.pending_documents(model, 10)
        store.store_vectors(model, [(a.artifact_id, b"v")], position)
    store.reset_vectors("m1")
    assert store.vector_state("m1") == (0, 0)
    assert store.vector_state("m2")[0] == 1
    assert len(store.pending_documents("m1", 10)[0]) == 1
    store.reset_vectors()
    assert store.vector_state("m2") == (0, 0)
    assert len(store.pending_documents("m2", 10)[0]) == 1


def test_matching_ids_applies_every_filter_and_keeps_order(store: VectorStore) -> None:
    x = make_artifact(kind="model", labels={"domain": "vision"})
    y = make_artifact(kind="model", labels={"domain": "nlp"})
    z = make_artifact(kind="report", labels={"domain": "vision"})
    pending = make_artifact(kind="model", status="pending")
    commit(store, x, y, z, pending)  # type: ignore[arg-type]
    everything = [z.artifact_id, pending.artifact_id, "unknown", y.artifact_id, x.artifact_id]
    query = ArtifactQuery(equals={"kind": "model"})
    assert store.matching_ids(query, everything) == [y.artifact_id, x.artifact_id]
    assert sorted(store.matching_ids(query)) == sorted([x.artifact_id, y.artifact_id])
    vision = ArtifactQuery(labels={"domain": "vision"})
    assert store.matching_ids(vision, everything) == [z.artifact_id, x.artifact_id]
    assert store.matching_ids(vision, []) == []
    many = [f"id{i}" for i in range(1200)] + [x.artifact_id]  # more than one chunk
    assert store.matching_ids(vision, many) == [x.artifact_id]


def test_get_many_keeps_order_and_hides_pending(store: VectorStore) -> None:
    a, b = make_artifact(name="a"), make_artifact(name="b")
    pending = make_artifact(status="pending")
    commit(store, a, b, pending)  # type: ignore[arg-type]
    got = store.get_many([b.artifact_id, "nope", pending.artifact_id, a.artifact_id])
    assert [g.name for g in got] == ["b", "a"]


def test_recorded_until_pins_the_rows_a_ranked_search_pages_over(index: Index) -> None:
    assert isinstance(index, LexicalSearch)
    assert index.newest_position() == 0
    a = make_artifact(kind="model")
    commit(index, a)
    mark = index.newest_position()
    commit(index, make_artifact(kind="model"))
    assert index.newest_position() > mark
    query = ArtifactQuery(equals={"kind": "model"}, recorded_until=mark)
    assert [x.artifact_id for x in index.query(query)] == [a.artifact_id]
    assert isinstance(index, VectorStore)
    assert index.matching_ids(query) == [a.artifact_id]
