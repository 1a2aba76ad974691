"""Every error code the server answers comes back as the class the embedded SDK raises.

STYLE.md rule 13: the server maps code -> status in one table and answers one JSON shape;
the remote client maps the code back. The first test runs every code of that table
through the server's own error answer and the client's parser; the others make a live
server answer the codes that real requests can reach.
"""

from __future__ import annotations

import hashlib

import httpx
import pytest

from remotekit import RemoteWorld, on_both_pairs
from satchel.client._api import Api, file_url, raise_for_error
from satchel.errors import (
    ConflictError,
    InvalidFileKeyError,
    InvalidMetadataError,
    InvalidNameError,
    NetworkError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    SatchelError,
    ValidationError,
    error_class_for_code,
)
from satchel.server.errors import STATUS, error_response

#: Codes of the HTTP layer alone: the SDK has no class of its own for them.
HTTP_ONLY = {"method_not_allowed", "range_not_satisfiable", "rate_limited", "internal_error"}
UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


@pytest.mark.parametrize("code", sorted(STATUS))
def test_every_code_of_the_servers_table_maps_back_to_its_class(code: str) -> None:
    answer = error_response(code, f"what went wrong ({code})")
    response = httpx.Response(
        answer.status_code,
        headers=dict(answer.headers),
        content=bytes(answer.body),
        request=httpx.Request("GET", "http://satchel.test/api/v1/anything"),
    )
    with pytest.raises(SatchelError) as info:
        raise_for_error(response)
    expected = SatchelError if code in HTTP_ONLY else error_class_for_code(code)
    assert expected is not SatchelError or code in HTTP_ONLY | {"satchel_error"}
    assert type(info.value) is expected
    assert info.value.message == f"what went wrong ({code})"


def test_answers_without_the_error_shape() -> None:
    request = httpx.Request("GET", "http://satchel.test/api/v1/info")
    with pytest.raises(NetworkError):  # a proxy's answer for a server it cannot reach
        raise_for_error(httpx.Response(502, text="<html>Bad Gateway</html>", request=request))
    with pytest.raises(SatchelError) as info:
        raise_for_error(httpx.Response(500, text="oops", request=request))
    assert type(info.value) is SatchelError
    raise_for_error(httpx.Response(200, json={}, request=request))  # success: nothing


def _api(remote: RemoteWorld, member_token: str) -> Api:
    return Api(remote.url, member_token)


def _file(data: bytes, path: str = "f.bin") -> dict[str, object]:
    return {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


@on_both_pairs
def test_live_answers_raise_the_embedded_classes(remote: RemoteWorld) -> None:
    owner = remote.member()
    api = _api(remote, owner.token)
    try:
        cases: list[tuple[type[SatchelError], str, str, dict[str, object]]] = [
            (ValidationError, "POST", "/search", {"json": {"mode": "bogus"}}),
            (InvalidNameError, "POST", "/artifacts", {"json": {"name": "a\tb", "files": []}}),
            (InvalidFileKeyError, "POST", "/artifacts", {"json": {"files": [_file(b"x", "../x")]}}),
            (
                InvalidMetadataError,
                "POST",
                "/artifacts",
                {"json": {"labels": {"a": {"b": 1}}, "files": [_file(b"x")]}},
            ),
            (NotFoundError, "GET", f"/artifacts/{UNKNOWN_ID}", {}),
            (NotFoundError, "POST", f"/artifacts/{UNKNOWN_ID}/pin", {"json": {"pinned": True}}),
            (PayloadTooLargeError, "POST", "/search", {"content": b" " * (17 << 20)}),
        ]
        for cls, method, path, kwargs in cases:
            with pytest.raises(SatchelError) as info:
                api.request(method, path, retry=False, **kwargs)  # type: ignore[arg-type]
            assert type(info.value) is cls, (method, path, info.value)
        # Codes of the HTTP layer alone are plain SatchelErrors.
        with pytest.raises(SatchelError) as info:
            api.request("DELETE", "/info", retry=False)
        assert type(info.value) is SatchelError
        made = api.json(
            "POST",
            "/artifacts",
            retry=False,
            json={"files": [{**_file(b"abc"), "content": "YWJj"}]},
        )
        with pytest.raises(SatchelError) as info:
            api.request(
                "GET",
                file_url(made["artifact_id"], "f.bin"),
                retry=False,
                headers={"Range": "bytes=10-"},
            )
        assert type(info.value) is SatchelError
        # The same id again with other files: a conflict.
        with pytest.raises(ConflictError):
            api.request(
                "POST",
                "/artifacts",
                retry=False,
                json={"artifact_id": made["artifact_id"], "files": [_file(b"other")]},
            )
    finally:
        api.close()


@on_both_pairs
async def test_sdk_calls_raise_the_same_classes_as_embedded(remote: RemoteWorld) -> None:
    mine = remote.context(run_id="r1").artifacts()
    colleague = remote.context(run_id="r2", user_id="u2").artifacts()
    a = await mine.save_text("mine")
    # A colleague reads it (same org) but may not manage it.
    assert await colleague.load_text_by_id(a.artifact_id) == "mine"
    with pytest.raises(PermissionDeniedError):
        await colleague.pin(a.artifact_id, True)
    with pytest.raises(PermissionError):
        await colleague.pin(a.artifact_id, False)
    for call in (mine.pin, colleague.lineage):
        with pytest.raises(NotFoundError):
            await call(UNKNOWN_ID)
    with pytest.raises(FileNotFoundError):
        await mine.lineage("not/an-id")
