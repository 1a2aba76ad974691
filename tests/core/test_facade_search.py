"""Structured search, best-by-metric and paged search, through both facade twins."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

import satchel
from conftest import facade_of, remote_too

pytestmark = remote_too


async def seed_models(arts: Any) -> list[Any]:
    saved = []
    for i in range(7):
        saved.append(
            await arts.save_text(
                f"model {i}",
                name=f"m{i}",
                kind="model",
                labels={"domain": "vision" if i % 2 else "nlp", "size": i},
                metrics={"accuracy": i / 10, **({"f1": 1 - i / 10} if i < 4 else {})},
                tags=["weekly"] if i % 3 == 0 else [],
            )
        )
    await arts.save_text("report", name="r", kind="report", tags=["weekly"])
    return saved


def names(rows: list[Any]) -> list[str]:
    return [r.name for r in rows]


async def test_structured_filters(arts):
    await seed_models(arts)
    assert names(await arts.search(kind="report", tags=["weekly"])) == ["r"]
    assert names(await arts.search(kind="model", tags=["weekly"])) == ["m6", "m3", "m0"]
    assert names(await arts.search(labels={"domain": "vision"})) == ["m5", "m3", "m1"]
    assert names(await arts.search(labels={"size": 3})) == ["m3"]
    assert await arts.search(labels={"size": "3"}) == []
    assert len(await arts.search()) == 8
    assert names(await arts.search(kind="model", limit=2)) == ["m6", "m5"]


async def test_metric_ranking_leaves_out_artifacts_without_it(arts):
    await seed_models(arts)
    assert names(await arts.search(metric="accuracy", metric_mode="max", limit=3)) == [
        "m6",
        "m5",
        "m4",
    ]
    assert names(await arts.search(metric="f1", metric_mode="max")) == ["m0", "m1", "m2", "m3"]
    assert names(await arts.search(metric="f1", metric_mode="min")) == ["m3", "m2", "m1", "m0"]
    assert names(await arts.search(metric="f1")) == ["m0", "m1", "m2", "m3"]  # max by default
    with pytest.raises(satchel.ValidationError):
        await arts.search(metric_mode="max")
    with pytest.raises(satchel.ValidationError):
        await arts.search(metric="f1", metric_mode="best")  # type: ignore[arg-type]


async def test_best(arts):
    await seed_models(arts)
    best = await arts.best(kind="model", metric="accuracy", metric_mode="max")
    assert best is not None and best.name == "m6"
    best = await arts.best(
        kind="model", metric="accuracy", metric_mode="max", filters={"domain": "vision"}
    )
    assert best is not None and best.name == "m5"
    worst = await arts.best(kind="model", metric="accuracy", metric_mode="min", tags=["weekly"])
    assert worst is not None and worst.name == "m0"
    assert await arts.best(kind="report", metric="accuracy", metric_mode="max") is None
    assert await arts.best(kind="model", metric="nope", metric_mode="max") is None


async def test_levels_scope_labels_graph_and_node(open_context, facade_kind):
    base = {"org_id": "o1", "user_id": "u1", "session_id": "s1"}
    here = facade_of(open_context(run_id="ra", graph_id="g1", node_id="n1", **base), facade_kind)
    other_node = facade_of(
        open_context(run_id="ra", graph_id="g1", node_id="n2", **base), facade_kind
    )
    other_run = facade_of(open_context(run_id="rb", graph_id="g2", **base), facade_kind)
    a = await here.save_text("a", name="a", labels={"project": "p1"})
    b = await other_node.save_text("b", name="b", labels={"project": "p2"})
    c = await other_run.save_text("c", name="c", labels={"project": "p1"})
    assert {x.artifact_id for x in await here.search()} == {a.artifact_id, b.artifact_id}
    assert names(await here.search(include_node=True)) == ["a"]
    assert set(names(await here.search(include_graph=True))) == {"a", "b"}
    assert set(names(await here.search(level="session"))) == {"a", "b", "c"}
    assert set(names(await here.search(level="session", extra_scope_labels={"project": "p1"}))) == {
        "a",
        "c",
    }
    assert (
        await here.search(
            level="session", labels={"project": "p2"}, extra_scope_labels={"project": "p1"}
        )
        == []
    )
    assert c.artifact_id not in {x.artifact_id for x in await here.search(level="run")}


async def test_time_window(arts):
    old = await arts.save_text("old", name="old")
    await asyncio.sleep(1.2)
    new = await arts.save_text("new", name="new")
    assert names(await arts.search(time_window="1s")) == ["new"]
    assert {x.artifact_id for x in await arts.search(time_window="1h")} == {
        old.artifact_id,
        new.artifact_id,
    }
    for ok in ("30s", "15m", "2h", "7d", "4w"):
        await arts.search(time_window=ok)
    for bad in ("", "7", "d", "0d", "-1d", "7 d", "7days", "1y", "1.5h", "7D", 7):
        with pytest.raises(satchel.ValidationError):
            await arts.search(time_window=bad)


async def test_unknown_modes_and_modes_without_a_query_are_refused(arts):
    await seed_models(arts)
    with pytest.raises(satchel.ValidationError, match="unknown search mode"):
        await arts.search(query="vision", mode="fuzzy-magic")
    for mode in ("lexical", "semantic", "hybrid"):
        with pytest.raises(satchel.ValidationError, match="needs a query"):
            await arts.search(mode=mode)


async def test_a_query_longer_than_2048_characters_is_refused_everywhere(arts):
    """The same limit embedded and remote (a server refuses longer text in any field)."""
    await seed_models(arts)
    assert isinstance(await arts.search(query="v" * 2048, mode="lexical"), list)
    for call in (arts.search, arts.search_page):
        with pytest.raises(satchel.ValidationError):
            await call(query="v" * 2049, mode="lexical")


async def collect(arts: Any, **kwargs: Any) -> list[Any]:
    page = await arts.search_page(**kwargs)
    rows = list(page.items)
    while page.next_cursor is not None:
        assert len(page.items) == kwargs["limit"]  # pages are full until results run out
        page = await arts.search_page(cursor=page.next_cursor, **kwargs)
        rows.extend(page.items)
    return rows


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 8, 50])
async def test_pages_cover_every_result_once(arts, limit):
    await seed_models(arts)
    everything = await arts.search()
    assert [x.artifact_id for x in await collect(arts, limit=limit)] == [
        x.artifact_id for x in everything
    ]
    ranked = await arts.search(metric="accuracy", metric_mode="min")
    assert [
        x.artifact_id
        for x in await collect(arts, limit=limit, metric="accuracy", metric_mode="min")
    ] == [x.artifact_id for x in ranked]


async def test_pages_are_stable_under_concurrent_inserts(arts):
    first = await seed_models(arts)
    page = await arts.search_page(kind="model", limit=3)
    seen = list(page.items)
    counter = itertools.count()
    while page.next_cursor is not None:
        await arts.save_text(f"late {next(counter)}", kind="model")  # newer: before the cursor
        page = await arts.search_page(kind="model", limit=3, cursor=page.next_cursor)
        seen.extend(page.items)
    assert [x.artifact_id for x in seen] == [x.artifact_id for x in reversed(first[:7])]


async def test_cursors_are_checked(arts):
    await seed_models(arts)
    page = await arts.search_page(kind="model", limit=2)
    assert page.next_cursor is not None
    with pytest.raises(satchel.ValidationError, match="different search"):
        await arts.search_page(kind="report", limit=2, cursor=page.next_cursor)
    for bad in ("", "not-a-cursor", "eyJ4IjoxfQ", page.next_cursor[:-4]):
        with pytest.raises(satchel.ValidationError):
            await arts.search_page(kind="model", limit=2, cursor=bad)
    for bad_limit in (0, -1, 1001):
        with pytest.raises(satchel.ValidationError):
            await arts.search_page(kind="model", limit=bad_limit)
    last = await arts.search_page(kind="report", limit=5)
    assert names(last.items) == ["r"] and last.next_cursor is None


@pytest.mark.parametrize(
    "filters",
    [
        {"kind": "model"},
        {"tags": ["weekly"]},
        {"labels": {"domain": "nlp"}},
        {"labels": {"size": 2}},
        {"metric": "f1"},
        {"kind": "model", "tags": ["weekly"], "labels": {"domain": "vision"}},
    ],
    ids="+".join,
)
async def test_no_result_violates_a_filter(arts, filters):
    await seed_models(arts)
    rows = await arts.search(**filters)
    assert rows
    for row in rows:
        if "kind" in filters:
            assert row.kind == filters["kind"]
        assert set(filters.get("tags", [])) <= set(row.tags)
        for key, value in filters.get("labels", {}).items():
            assert row.labels[key] == value and type(row.labels[key]) is type(value)
        if "metric" in filters:
            assert filters["metric"] in row.metrics
