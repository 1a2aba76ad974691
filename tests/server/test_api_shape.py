"""The API's shape: JSON under /api/v1, one error shape, the OpenAPI document served."""

from __future__ import annotations

import httpx
import pytest

from serverkit import World


@pytest.mark.parametrize("server_kind", ["local"], indirect=True)
async def test_the_openapi_document_is_served_and_every_route_is_under_api_v1(
    world: World,
) -> None:
    async with world.client() as anonymous:
        response = await anonymous.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    paths = response.json()["paths"]
    assert paths and all(p.startswith("/api/v1/") for p in paths)


def _error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code and body["error"]["message"]


@pytest.mark.parametrize("server_kind", ["local"], indirect=True)
async def test_every_failure_has_the_one_error_shape(world: World) -> None:
    world.member("owner", "a")
    async with world.client("owner") as owner, world.client() as anonymous:
        _error(await owner.get("/api/v1/no-such-route"), 404, "not_found")
        _error(await owner.put("/api/v1/me"), 405, "method_not_allowed")
        _error(await anonymous.get("/api/v1/me"), 401, "unauthenticated")
        bad_json = await owner.post(
            "/api/v1/search", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        _error(bad_json, 422, "validation_error")
        _error(await owner.post("/api/v1/search", json={"nope": 1}), 422, "validation_error")
        _error(await owner.get("/api/v1/artifacts", params={"limit": 0}), 422, "validation_error")
        _error(
            await owner.get("/api/v1/artifacts", params={"cursor": "garbage"}),
            422,
            "validation_error",
        )
        _error(
            await owner.get("/api/v1/runs", params={"cursor": "garbage"}), 422, "validation_error"
        )
