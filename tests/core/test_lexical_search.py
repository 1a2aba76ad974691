"""Lexical search: a labelled corpus with recall@5, typos and partial ids, filters, reindex.

Tests marked ``remote_too`` also run against a satchel server; the two that rebuild or catch
up the store's text index drive that index directly, and stay embedded.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from conftest import facade_of, remote_too
from corpus import FILTERS, QUERIES, RECALL_FLOORS, assert_obeys, load_corpus, recall_at_5
from satchel.index import fts, pg_text


@remote_too
async def test_recall_at_5_on_the_labelled_corpus(arts, capsys):
    await load_corpus(arts)
    recall, misses = await recall_at_5(arts, "lexical", QUERIES)
    with capsys.disabled():
        print(f"\nlexical recall@5 = {recall:.2f} over {len(QUERIES)} queries")
    assert recall >= RECALL_FLOORS["lexical"], misses


@remote_too
async def test_default_mode_for_a_query_is_lexical(arts):
    await load_corpus(arts)
    assert [a.name for a in await arts.search(query="churn", limit=1)] == ["xgboost-churn-model"]


@remote_too
async def test_typos_and_partial_ids_find_the_artifact(arts):
    saved = await load_corpus(arts)
    top = [a.name for a in await arts.search(query="segmentaiton", limit=5)]
    assert "unet-segmentation.ckpt" in top
    top = [a.name for a in await arts.search(query="whsiper transcripts", limit=5)]
    assert "whisper-small-transcripts" in top
    target = saved["bert-sst2"]
    found = await arts.search(query=target.artifact_id[-10:], limit=3)
    assert found and found[0].artifact_id == target.artifact_id


@remote_too
@pytest.mark.parametrize("filters", FILTERS, ids="+".join)
async def test_filters_hold_on_the_text_path(arts, filters):
    await load_corpus(arts)
    await arts.save_text("f1 of the churn model", name="scored", kind="result", metrics={"f1": 1})
    for query, _ in QUERIES:
        for row in await arts.search(query=query, **filters):
            assert_obeys(row, filters)
    assert await arts.search(query="resnet", kind="checkpoint")
    assert await arts.search(query="resnet", kind="log") == []


@remote_too
async def test_metric_on_the_text_path_requires_the_metric(arts):
    await arts.save_text("alpha model", name="with", kind="model", metrics={"f1": 0.5})
    await arts.save_text("alpha model", name="without", kind="model")
    assert [a.name for a in await arts.search(query="alpha", metric="f1")] == ["with"]


@remote_too
async def test_level_and_other_runs_on_the_text_path(open_context, facade_kind):
    mine = facade_of(open_context(run_id="ra", session_id="s1"), facade_kind)
    theirs = facade_of(open_context(run_id="rb", session_id="s1"), facade_kind)
    await mine.save_text("quantum annealing notes", name="mine")
    await theirs.save_text("quantum annealing notes", name="theirs")
    assert [a.name for a in await mine.search(query="quantum")] == ["mine"]
    assert sorted(a.name for a in await mine.search(query="quantum", level="session")) == [
        "mine",
        "theirs",
    ]


@remote_too
async def test_binary_content_is_not_indexed_but_names_are(arts, tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"secretword " * 10)
    await arts.save_file(path, kind="checkpoint")
    assert await arts.search(query="secretword") == []
    assert [a.name for a in await arts.search(query="weights")] == ["weights.bin"]


async def test_reindex_rebuilds_the_text_index(context, facade_kind):
    arts = facade_of(context, facade_kind)
    saved = await load_corpus(arts)
    assert [a.name for a in await arts.search(query="radiology", limit=1)] == ["dataset-card.md"]
    engine = context.store.index.engine
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        for table in ("artifact_text",) if postgres else ("artifact_fts", "artifact_trigram"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
    assert await arts.search(query="radiology") == []
    assert context.store.index.reindex() == len(saved)
    assert [a.name for a in await arts.search(query="radiology", limit=1)] == ["dataset-card.md"]


@remote_too
async def test_saves_are_searchable_as_soon_as_they_return(arts):
    # Text indexing is not on the save path: the next search catches up first.
    for i in range(3):
        a = await arts.save_text(f"zeppelin log {i}", name=f"z{i}")
        found = await arts.search(query="zeppelin", limit=10)
        assert a.artifact_id in {x.artifact_id for x in found}
        assert len(found) == i + 1


@remote_too
async def test_another_context_sees_new_saves(open_context, facade_kind):
    writer = facade_of(open_context(run_id="rw"), facade_kind)
    reader = facade_of(open_context(run_id="rw"), facade_kind)
    assert await reader.search(query="marmalade") == []
    saved = await writer.save_text("marmalade recipe", name="m")
    assert [a.artifact_id for a in await reader.search(query="marmalade")] == [saved.artifact_id]


@remote_too
@pytest.mark.parametrize("level", ["run", "session", "user", "org"])
async def test_another_orgs_artifacts_never_show(open_context, facade_kind, level):
    shared = {"session_id": "s1", "user_id": "u1", "run_id": "r1"}
    mine_ctx = open_context(org_id="o1", **shared)
    mine = facade_of(mine_ctx, facade_kind)
    theirs = facade_of(open_context(org_id="o2", **{**shared, "user_id": "u2"}), facade_kind)
    other_session = facade_of(
        open_context(org_id="o2", session_id="s9", user_id="u9", run_id="r9"), facade_kind
    )
    await theirs.save_text(
        "confidential quarterly forecast", name="secret", kind="report", metrics={"acc": 0.99}
    )
    await other_session.save_text(
        "confidential quarterly forecast", name="secret2", kind="report", metrics={"acc": 0.98}
    )
    await mine.save_text("public roadmap", name="mine", kind="report", metrics={"acc": 0.1})
    for query in ("confidential", "forecast", "confidnetial", "quarterly report"):
        for row in await mine.search(query=query, level=level):
            assert row.org_id == mine_ctx.info.org_id, (query, row.name)
    if level == "org":
        assert [r.name for r in await mine.search(level=level)] == ["mine"]
        best = await mine.best(kind="report", metric="acc", metric_mode="max", level=level)
        assert best is not None and best.name == "mine"


async def test_catch_up_commits_in_short_transactions(context, facade_kind, monkeypatch):
    for module in (fts, pg_text):
        monkeypatch.setattr(module, "_BATCH", 2)
        monkeypatch.setattr(module, "CATCH_UP_ROWS", 2)
    arts = facade_of(context, facade_kind)
    saved = {(await arts.save_text(f"walrus {i}", name=f"w{i}")).artifact_id for i in range(7)}
    assert {a.artifact_id for a in await arts.search(query="walrus", limit=20)} == saved
    assert context.store.index.reindex() == 7
    assert {a.artifact_id for a in await arts.search(query="walrus", limit=20)} == saved


@remote_too
async def test_query_syntax_characters_are_plain_text(arts):
    # Quotes, LIKE wildcards, backslashes and tsquery/FTS5 operators are only characters.
    await arts.save_text("discount notes", name="promo_50%_off.txt")
    await arts.save_text("other notes", name="promo_50xyoff.txt")
    for query in ("50%_off", "it's & | ! ( ) \\ promo:*", '"promo" AND NOT', "%_%"):
        await arts.search(query=query)
    found = [a.name for a in await arts.search(query="_50%_off", limit=5)]
    assert found[0] == "promo_50%_off.txt"


@remote_too
async def test_text_with_nul_characters_does_not_stop_the_text_index(arts):
    # Valid UTF-8 text may hold U+0000; PostgreSQL text columns cannot, and a document the
    # catch-up could not write would fail every search after it on that index.
    a = await arts.save_text("before\x00after nulcharacter", name="nul.txt")
    assert await arts.load_text_by_id(a.artifact_id) == "before\x00after nulcharacter"
    assert [x.artifact_id for x in await arts.search(query="nulcharacter")] == [a.artifact_id]
    assert [x.artifact_id for x in await arts.search(query="after")] == [a.artifact_id]
    b = await arts.save_text("a later note", name="later.txt")
    assert [x.artifact_id for x in await arts.search(query="later")] == [b.artifact_id]
