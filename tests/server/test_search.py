"""Search through the server: every mode filters by the caller's access inside the query."""

from __future__ import annotations

import httpx
import pytest

from serverkit import World, create


async def _corpus(world: World) -> dict[str, str]:
    world.member("owner", "a")
    world.member("stranger", "b")
    ids = {}
    async with world.client("owner") as owner, world.client("stranger") as stranger:
        for i, acc in enumerate((0.7, 0.9, 0.8)):
            made = await create(
                owner,
                {f"eval-{i}.json": b'{"report": "validation accuracy of the resnet"}'},
                kind="metric",
                run_id="r1",
                labels={"split": "val", "epoch": i},
                metrics={"acc": acc},
                tags=["eval"],
            )
            ids[f"own{i}"] = made["artifact_id"]
        theirs = await create(
            stranger,
            {"eval.json": b'{"report": "validation accuracy of the resnet"}'},
            kind="metric",
            run_id="r1",
            labels={"split": "val", "epoch": 1},
            metrics={"acc": 0.99},
        )
        ids["theirs"] = theirs["artifact_id"]
    return ids


async def _search(http: httpx.AsyncClient, **body: object) -> list[str]:
    response = await http.post("/api/v1/search", json=body)
    assert response.status_code == 200, response.text
    return [a["artifact_id"] for a in response.json()["items"]]


async def test_structured_search_pages_and_filters(world: World) -> None:
    ids = await _corpus(world)
    async with world.client("owner") as owner:
        newest = await _search(owner, equals={"run_id": "r1", "kind": "metric"})
        assert newest == [ids["own2"], ids["own1"], ids["own0"]]
        typed = await _search(owner, labels={"epoch": 1})
        assert typed == [ids["own1"]]
        assert await _search(owner, labels={"epoch": "1"}) == []  # typed, never text
        ranked = await _search(owner, metric="acc", metric_mode="min")
        assert ranked == [ids["own0"], ids["own2"], ids["own1"]]
        first = (await owner.post("/api/v1/search", json={"limit": 2})).json()
        rest = await owner.post("/api/v1/search", json={"limit": 2, "cursor": first["next_cursor"]})
        assert [a["artifact_id"] for a in first["items"] + rest.json()["items"]] == newest
        assert rest.json()["next_cursor"] is None
        foreign = await owner.post(
            "/api/v1/search", json={"limit": 2, "cursor": first["next_cursor"], "tags": ["x"]}
        )
        assert foreign.status_code == 422
        best = (await owner.post("/api/v1/best", json={"kind": "metric", "metric": "acc"})).json()
        assert best["artifact"]["artifact_id"] == ids["own1"]  # not the stranger's 0.99
        nothing = await owner.post("/api/v1/best", json={"kind": "model", "metric": "acc"})
        assert nothing.json() == {"artifact": None}
        bad = await owner.post("/api/v1/search", json={"equals": {"status": "pending"}})
        assert bad.status_code == 422


@pytest.mark.parametrize("server_kind", ["local"], indirect=True)
@pytest.mark.parametrize("mode", ["lexical", "hybrid"])
async def test_text_search_finds_only_what_the_caller_may_read(world: World, mode: str) -> None:
    ids = await _corpus(world)
    async with world.client("owner") as owner, world.client("stranger") as stranger:
        found = await _search(owner, query="resnet validation", mode=mode)
        assert set(found) == {ids["own0"], ids["own1"], ids["own2"]}
        assert await _search(stranger, query="resnet validation", mode=mode) == [ids["theirs"]]
        with_metric = await _search(owner, query="resnet", mode=mode, metric="acc")
        assert set(with_metric) == set(found)
