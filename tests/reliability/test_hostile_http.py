"""The hostile input corpus against every HTTP route (RELIABILITY P6, P7, P9; issue 8).

Routes come from the app itself (its OpenAPI document, and the portal's router), so a new
route is swept too; a write route without a base body below fails
``test_every_write_route_has_a_base_body``. Every hostile request must answer a 4xx: the
API with its one JSON error shape and a stable code, the portal with its own pages; never a
5xx. Nothing appears outside the store, the home and the staging directory, and the
canary file next to them is never read into the store.

Path parameters are sent as a real server receives them: straight into the ASGI app with
the raw bytes (an HTTP client would resolve ``..`` segments before sending).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx
import pytest
from fastapi import FastAPI

import hostile as H
from satchel.portal.routes import router as portal_router
from serverkit import SERVER_BACKENDS, World, create, file_entry, route_table, state_of

CANARY = b"CANARY-http-5d1e-outside-the-store"
ALLOWED = {"store", "home", "uploads", "outside"}
MISSING = "01ZZZZZZZZZZZZZZZZZZZZZZZZ"
PASSWORD = "hostile horse battery staple"


@pytest.fixture
def server_kind() -> str:
    """The embedded pair, whose store and staging are files that could escape."""
    return "local"


@dataclass
class Targets:
    """Real things for the parameters a hostile value does not replace."""

    artifact_id: str
    pending_id: str
    run_id: str
    org_id: str
    link: str


@dataclass
class Sweep:
    """A world with an admin owner signed in to the API and to the portal."""

    app: FastAPI
    api: httpx.AsyncClient
    auth: list[tuple[bytes, bytes]]
    cookie: list[tuple[bytes, bytes]]
    targets: Targets
    root: Path


async def _portal_cookie(world: World, who: str) -> list[tuple[bytes, bytes]]:
    member = world.members[who]
    state_of(world.app).tenancy.set_password(member.user_id, PASSWORD)
    async with world.client() as browser:
        page = await browser.get("/login")
        found = re.search(r'name="csrf" value="([^"]*)"', page.text)
        assert found is not None
        form = {"email": member.email, "password": PASSWORD, "csrf": found.group(1)}
        answer = await browser.post("/login", data=form)
        assert answer.status_code == 303, answer.text
        cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    return [(b"cookie", cookie.encode()), (b"accept", b"text/html")]


@pytest.fixture
async def sweep(world: World, tmp_path: Path) -> AsyncIterator[Sweep]:
    owner = world.member("owner", "a", role="admin")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(CANARY)
    cookie = await _portal_cookie(world, "owner")
    async with world.client("owner") as api:
        run = (await api.post("/api/v1/runs", json={"run_id": "hostile-run"})).json()["run_id"]
        done = await create(api, {"f.txt": b"file", "d/g.txt": b"g"}, run_id=run, name="t")
        pending = await create(api, {"p.bin": b"p" * 3000}, inline=False, run_id=run)
        links = f"/api/v1/artifacts/{done['artifact_id']}/links"
        made = await api.post(links, json={"path": "f.txt"})
        targets = Targets(
            artifact_id=done["artifact_id"],
            pending_id=pending["artifact_id"],
            run_id=run,
            org_id=owner.org_id,
            link=made.json()["url"],
        )
        auth = [(b"authorization", f"Bearer {owner.token}".encode())]
        yield Sweep(world.app, api, auth, cookie, targets, tmp_path)
    _check_fence(tmp_path)


def _check_fence(root: Path) -> None:
    """Nothing new beside the allowed directories; staging files are named by the server;
    the canary is unchanged and in no stored file."""
    assert set(os.listdir(root)) <= ALLOWED, os.listdir(root)
    assert (root / "outside" / "secret.txt").read_bytes() == CANARY
    assert os.listdir(root / "outside") == ["secret.txt"]
    for top in ("store", "home", "uploads"):
        for path, _, files in os.walk(root / top):
            for name in files:
                with contextlib.suppress(OSError):
                    assert CANARY not in Path(path, name).read_bytes()
    for _dir, _, files in os.walk(root / "uploads"):
        for name in files:
            assert re.fullmatch(r"[0-9A-Za-z_.-]+", name), f"a staging name from input: {name}"


# -- requests as a server receives them -----------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[bytes, bytes]
    body: bytes

    def error_code(self) -> str:
        """The stable code of a JSON error answer (fails on any other shape)."""
        error = json.loads(self.body)["error"]
        assert set(error) == {"code", "message"}, error
        assert isinstance(error["code"], str) and error["code"]
        return str(error["code"])


async def raw(
    app: FastAPI,
    method: str,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes = b"",
) -> Answer:
    """One request into the ASGI app as uvicorn would pass it: ``path`` is the percent-decoded
    raw path, dot segments and all."""
    raw_path, _, query = target.partition(b"?")
    path = unquote(raw_path.decode("ascii"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": [
            (b"host", b"satchel.test"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("satchel.test", 80),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    out = Answer(0, {}, b"")

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out.status = message["status"]
            out.headers = dict(message.get("headers", []))
        elif message["type"] == "http.response.body":
            out.body += message.get("body", b"")

    await app(scope, receive, send)
    return out


def _api_routes() -> list[tuple[str, str]]:
    """Every API route; deletions last, so the others still meet the real targets."""
    return sorted(route_table(), key=lambda r: (r[0] == "DELETE", r))


def _portal_routes() -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for route in portal_router.routes
        for method in getattr(route, "methods", ()) or ()
        if method != "HEAD"
    )


def _uses_pending(path: str) -> bool:
    return (
        "/uploads/" in path
        or "/multipart" in path
        or path.endswith(("/presign", "/adopt", "/contents"))
    )


def _fill(route: str, t: Targets, given: dict[str, str] | None = None) -> str:
    """``route`` with every parameter a real target, except those ``given``."""
    values = {
        "artifact_id": t.pending_id if _uses_pending(route) else t.artifact_id,
        "path": "p.bin" if _uses_pending(route) else "f.txt",
        "run_id": t.run_id,
        "org_id": t.org_id,
        "token_id": MISSING,
        "grant_id": MISSING,
        "upload": "x.y",
        "policy_id": MISSING,
        **(given or {}),
    }
    return re.sub(r"{(\w+)(?::path)?}", lambda m: values[m.group(1)], route)


#: Hostile ids: traversal raw and encoded, absolute, NUL, lookalikes, too long, SQL-ish.
ID_SAMPLE = ["..", "../x", "%2e%2e", "..%2f", "/etc/passwd", "x\x00", "\u2024\u2024", "i" * 5000]


def _encodings(value: str, *, twice: bool = True) -> set[bytes]:
    """The value raw (when a request line can carry it), percent-encoded, and encoded twice."""
    once = quote(value, safe="", errors="surrogatepass").encode()
    out = {once, quote(once.decode(), safe="").encode()} if twice else {once}
    if all(0x21 <= c <= 0x7E and c not in b"?#%" for c in value.encode("utf-8", "replace")):
        out.add(value.encode())
    return out


# -- path parameters ------------------------------------------------------------------------


async def test_hostile_path_parameters_on_every_route(sweep: Sweep) -> None:
    """Traversal in every encoding, and ids that are not ids, in every path parameter of
    every API and portal route: a 4xx, never the file, never a 5xx."""
    seen = 0
    routes = [(m, p, True) for m, p in _api_routes()] + [(m, p, False) for m, p in _portal_routes()]
    for method, path, is_api in routes:
        for param in re.findall(r"{(\w+)", path):
            # Free text (file paths) meets the whole corpus; ids, a sample of each kind.
            values = [*H.TRAVERSAL, *H.BAD_IDS] if param == "path" else ID_SAMPLE
            for value in values:
                for encoded in _encodings(value, twice=param == "path"):
                    target = _fill(path, sweep.targets, {param: "\x01"}).encode()
                    target = target.replace(b"\x01", encoded)
                    if "/links/" in path:
                        target += b"?" + urlsplit(sweep.targets.link).query.encode()
                    headers = sweep.auth if is_api else sweep.cookie
                    body = b"{}" if method in ("POST", "PUT", "PATCH") else b""
                    answer = await raw(sweep.app, method, target, headers, body)
                    seen += 1
                    assert 400 <= answer.status < 500, (method, target, answer)
                    if is_api or answer.headers.get(b"content-type", b"").startswith(b"app"):
                        answer.error_code()
    assert seen > 900


# -- bodies ---------------------------------------------------------------------------------


def _base_bodies(t: Targets) -> dict[tuple[str, str], Any]:
    """A valid body for every write route (the hostile values go into its fields)."""
    fe = file_entry("n.txt", b"new", inline=True)
    return {
        ("POST", "/api/v1/auth/login"): {"email": "nobody@example.com", "password": "x"},
        ("POST", "/api/v1/orgs/{org_id}/users"): {"email": "new@example.com"},
        ("POST", "/api/v1/tokens"): {"name": "t"},
        ("POST", "/api/v1/artifacts"): {
            "files": [fe],
            "name": "n",
            "labels": {"k": "v"},
            "metrics": {"m": 0.5},
        },
        ("POST", "/api/v1/search"): {"query": "x", "labels": {"k": "v"}, "limit": 5},
        ("POST", "/api/v1/best"): {"kind": "k", "metric": "m", "labels": {"k": 1}},
        ("POST", "/api/v1/artifacts/{artifact_id}/contents"): {
            "files": [{"path": "p.bin", "content": base64.b64encode(b"p" * 3000).decode()}]
        },
        ("POST", "/api/v1/artifacts/{artifact_id}/pin"): {"pinned": True},
        ("POST", "/api/v1/artifacts/{artifact_id}/uses"): {"run_id": t.run_id},
        ("PUT", "/api/v1/artifacts/{artifact_id}/uploads/{path}"): None,
        ("POST", "/api/v1/artifacts/{artifact_id}/presign"): {"path": "p.bin"},
        ("POST", "/api/v1/artifacts/{artifact_id}/adopt"): {"path": "p.bin", "token": "t"},
        ("POST", "/api/v1/artifacts/{artifact_id}/multipart"): {"path": "p.bin"},
        ("POST", "/api/v1/artifacts/{artifact_id}/multipart/{upload}/parts"): {"numbers": [1]},
        ("POST", "/api/v1/artifacts/{artifact_id}/multipart/{upload}/complete"): None,
        ("POST", "/api/v1/artifacts/{artifact_id}/grants"): {"email": "g@example.com"},
        ("POST", "/api/v1/artifacts/{artifact_id}/links"): {"path": "f.txt", "expires_in": 60},
        ("POST", "/api/v1/runs"): {"run_id": "r-new", "name": "n"},
        ("PATCH", "/api/v1/runs/{run_id}"): {"status": "done"},
        ("POST", "/api/v1/retention"): {
            "kind": "log",
            "group_by": "run",
            "keep_last": 3,
            "keep_best": 1,
            "metric": "m",
            "metric_mode": "max",
            "ttl_seconds": 3600,
        },
    }


WRITE_METHODS = ("POST", "PUT", "PATCH")


def test_every_write_route_has_a_base_body() -> None:
    writes = {(m, p) for m, p in route_table() if m in WRITE_METHODS}
    bodies = set(_base_bodies(Targets("", "", "", "", "")))
    assert writes == bodies


def _hostile_variants(body: Any, values: list[Any]) -> Iterator[tuple[str, Any]]:
    """``body`` with one field (or one field of its first list item, or one value of a
    mapping) replaced by each value."""
    if not isinstance(body, dict):
        return
    for key, original in body.items():
        for value in values:
            yield key, {**body, key: value}
            if isinstance(original, dict):
                yield f"{key}.k", {**body, key: {**original, "k": value}}
                yield f"{key}.key", {**body, key: {value: 1} if isinstance(value, str) else {}}
            if isinstance(original, list) and original and isinstance(original[0], dict):
                for inner in original[0]:
                    item = {**original[0], inner: value}
                    yield f"{key}[0].{inner}", {**body, key: [item, *original[1:]]}
            if isinstance(original, list) and original and not isinstance(original[0], dict):
                yield f"{key}[0]", {**body, key: [value]}


HOSTILE_STRINGS = [
    "\ud800",
    "lone \udcff",
    "a\x00b",
    "\x1b[2J",
    "../../../../etc/passwd",
    "x" * 5000,
]
WRONG_TYPES = [None, [[]], {"a": {}}, 2**70, -1, ""]


async def _send_json_text(
    sweep: Sweep, method: str, path: str, text: str | bytes
) -> httpx.Response:
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return await sweep.api.request(
        method,
        _fill(path, sweep.targets),
        content=data,
        headers={"content-type": "application/json"},
    )


def _assert_refused_or_fine(response: httpx.Response, what: object) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text[:300])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"code", "message"}, (what, error)


@pytest.mark.parametrize("server_kind", SERVER_BACKENDS)
async def test_hostile_values_in_every_field_of_every_write_route(
    sweep: Sweep, server_kind: str
) -> None:
    """Strings UTF-8 cannot encode, NUL, escapes, traversal, over-long text and wrong
    types in each field: a 4xx or an answer that serialises; then every listing still
    answers (nothing stored breaks a later read)."""
    sent = 0
    for (method, path), base in _base_bodies(sweep.targets).items():
        # Wrong types stop at the schema, whatever the backend: the scale pair gets strings.
        values = [*HOSTILE_STRINGS, *(WRONG_TYPES if server_kind == "local" else [])]
        for where, body in _hostile_variants(base, values):
            # json.dumps keeps a lone surrogate as its \\ud800 escape: valid JSON text.
            response = await _send_json_text(sweep, method, path, json.dumps(body))
            _assert_refused_or_fine(response, (method, path, where))
            sent += 1
    assert sent > 200
    t = sweep.targets
    for url in (
        "/api/v1/artifacts?limit=1000",
        "/api/v1/runs",
        "/api/v1/tokens",
        f"/api/v1/orgs/{t.org_id}/users",
        f"/api/v1/artifacts/{t.artifact_id}/grants",
        f"/api/v1/artifacts/{t.artifact_id}/lineage",
        f"/api/v1/runs/{t.run_id}/artifacts",
    ):
        assert (await sweep.api.get(url)).status_code == 200, url
    for url in ("/", "/artifacts", "/runs", f"/artifacts/{t.artifact_id}"):
        answer = await raw(sweep.app, "GET", url.encode(), sweep.cookie)
        assert answer.status in (200, 303), url


async def test_non_finite_and_huge_numbers_in_every_field(sweep: Sweep) -> None:
    """NaN, Infinity, 1e309 and 5,000-digit integers as JSON text (Python's reader takes
    them all): refused, never stored, never a 5xx."""
    placeholder = "__HOSTILE_NUMBER__"
    for (method, path), base in _base_bodies(sweep.targets).items():
        for where, body in _hostile_variants(base, [placeholder]):
            text = json.dumps(body)
            for literal in H.BAD_NUMBER_LITERALS:
                response = await _send_json_text(
                    sweep, method, path, text.replace(f'"{placeholder}"', literal)
                )
                _assert_refused_or_fine(response, (method, path, where, literal))
                if response.status_code < 400 and method == "POST" and "metrics" in where:
                    raise AssertionError(f"a non-finite metric was accepted: {where}")
    listed = (await sweep.api.get("/api/v1/artifacts?limit=1000")).json()["items"]
    assert all(isinstance(v, float) for a in listed for v in a["metrics"].values())


async def test_hostile_documents_on_every_write_route(sweep: Sweep) -> None:
    """Deep nesting (10,000 levels), duplicate keys, bytes that are not UTF-8, documents
    that are not objects: once per route, each a 4xx with the JSON error shape."""
    documents = {
        "deep array": H.deep_json(),
        "deep object": H.deep_object(),
        **{f"not json {i}": doc for i, doc in enumerate(H.NOT_JSON)},
    }
    for method, path in sorted(_base_bodies(sweep.targets)):
        streamed = path.endswith("/uploads/{path}")  # a file's bytes, not JSON
        for what, document in documents.items():
            response = await _send_json_text(sweep, method, path, document)
            _assert_refused_or_fine(response, (method, path, what))
            if not streamed and not path.endswith("/complete"):
                assert response.status_code >= 400, (method, path, what)
        duplicate = await _send_json_text(sweep, method, path, H.DUPLICATE_KEYS)
        _assert_refused_or_fine(duplicate, (method, path, "duplicate keys"))
        if path == "/api/v1/artifacts":
            assert duplicate.json()["name"] == "second"  # the last value, never both


async def test_oversized_bodies_are_refused_before_they_are_read(sweep: Sweep) -> None:
    """A 50 MiB body (announced, or chunked without a length) answers 413 on every write
    route; the upload route refuses more bytes than the file declared."""
    huge = H.huge_json()
    for method, path in sorted(_base_bodies(sweep.targets)):
        response = await _send_json_text(sweep, method, path, huge)
        assert response.status_code == 413, (method, path, response.status_code)
        assert response.json()["error"]["code"] == "too_large"

    async def chunks() -> AsyncIterator[bytes]:
        piece = b" " * (1 << 20)
        yield b'{"files": [], "name": "'
        for _ in range(H.HUGE_BYTES >> 20):
            yield piece
        yield b'"}'

    streamed = await sweep.api.post(
        "/api/v1/artifacts", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert streamed.json()["error"]["code"] == "too_large"
    pending = f"/api/v1/artifacts/{sweep.targets.pending_id}/uploads/p.bin"
    response = await sweep.api.put(pending, params={"offset": 0}, content=huge[: 1 << 20])
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


# -- query strings --------------------------------------------------------------------------

HOSTILE_QUERY_VALUES = [
    "NaN",
    "Infinity",
    "-1",
    "1e309",
    "9" * 5000,
    "%00",
    "%ed%a0%80",
    "%ff%fe",
    "..%2f..%2fetc%2fpasswd",
    "x" * 5000,
]


async def test_hostile_query_strings_on_every_route(sweep: Sweep) -> None:
    """Every documented query parameter of every route, and an unknown one, with
    non-numbers, huge numbers, NUL, bytes that are not UTF-8 and traversal."""
    schema = sweep.app.openapi()["paths"]
    for method, path in _api_routes():
        operation = schema[path][method.lower()]
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
        base = _fill(path, sweep.targets)
        link = urlsplit(sweep.targets.link).query if "/links/" in path else ""
        for name in [*names, "unknown"]:
            for value in HOSTILE_QUERY_VALUES:
                query = "&".join(q for q in (link, f"{name}={value}") if q)
                body = b"{}" if method in WRITE_METHODS else b""
                answer = await raw(sweep.app, method, f"{base}?{query}".encode(), sweep.auth, body)
                assert answer.status < 500, (method, path, name, value[:20], answer.status)
                if answer.status >= 400:
                    answer.error_code()


# -- signed links ---------------------------------------------------------------------------


def _tampered(url: str) -> dict[str, str]:
    """The link with each part changed: never the file."""
    parts = urlsplit(url)
    query = dict(p.split("=", 1) for p in parts.query.split("&"))
    path = parts.path
    artifact_id = path.split("/")[4]

    def with_query(**changes: str) -> str:
        return path + "?" + "&".join(f"{k}={v}" for k, v in {**query, **changes}.items())

    signature = query["s"]
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return {
        "signature": with_query(s=flipped),
        "no signature": path + "?" + f"u={query['u']}&e={query['e']}",
        "empty signature": with_query(s=""),
        "long signature": with_query(s="A" * 5000),
        "later expiry": with_query(e=str(int(query["e"]) + 1)),
        "huge expiry": with_query(e="9" * 40),
        "NaN expiry": with_query(e="NaN"),
        "other maker": with_query(u=MISSING),
        "NUL maker": with_query(u="%00"),
        "other path": path.replace("/f.txt", "/d/g.txt") + "?" + parts.query,
        "traversal path": path.replace("/f.txt", "/..%2f..%2fd%2fg.txt") + "?" + parts.query,
        "dot path": path.replace("/f.txt", "/./f.txt") + "?" + parts.query,
        "other artifact": path.replace(artifact_id, MISSING) + "?" + parts.query,
        "duplicate signature": path + "?" + parts.query + "&s=" + flipped,
    }


async def test_tampered_signed_links_never_serve_the_file(sweep: Sweep) -> None:
    link = sweep.targets.link
    good = await raw(
        sweep.app, "GET", urlsplit(link).path.encode() + b"?" + urlsplit(link).query.encode(), []
    )
    assert (good.status, good.body) == (200, b"file")
    for what, target in _tampered(link).items():
        answer = await raw(sweep.app, "GET", target.encode(), [])
        assert 400 <= answer.status < 500, (what, answer.status)
        assert answer.body != b"file"
        answer.error_code()
    # The portal's download route makes a fresh link: hostile paths get none.
    base = f"/artifacts/{sweep.targets.artifact_id}/download/"
    for value in H.TRAVERSAL:
        for encoded in _encodings(value):
            answer = await raw(sweep.app, "GET", base.encode() + encoded, sweep.cookie)
            assert 400 <= answer.status < 500, (value, answer.status)
            assert b"/api/v1/links/" not in answer.headers.get(b"location", b"")


# -- headers and the portal's query strings -------------------------------------------------

HOSTILE_RANGES = [
    "bytes=999999999999999999999999-",
    "bytes=-0",
    "bytes=5-1",
    "bytes=0-1,2-3",
    "bytes=-99999999999999999999999",
    "items=0-1",
    "bytes=\xff",
    "bytes=" + "9" * 300,
]
HOSTILE_AUTH = [b"Bearer " + b"x" * 100_000, b"Bearer \xff\xfe", b"Basic Zm9vOmJhcg==", b"Bearer"]
HOSTILE_COOKIES = [b"x" * 5000, b"\xff", b"../../x", b""]
PORTAL_QUERIES = [
    "q=%00",
    "q=%ed%a0%80",
    "q=" + "x" * 5000,
    "q=NEAR(",
    "kind=%00",
    "page=-1",
    "page=99999999999999999999999",
    "cursor=%ff",
    "origin=../x",
    "next=//evil.example",
    "run=%00",
]


async def test_hostile_headers_and_portal_query_strings(sweep: Sweep) -> None:
    """Ranges past any integer, credentials that are not tokens, forged session cookies, and
    hostile query strings on every portal page: a 4xx or an ordinary answer, never a 5xx,
    never a page of someone signed in."""
    t = sweep.targets
    file_url = f"/api/v1/artifacts/{t.artifact_id}/files/f.txt".encode()
    for value in HOSTILE_RANGES:
        answer = await raw(
            sweep.app, "GET", file_url, [*sweep.auth, (b"range", value.encode("latin-1"))]
        )
        assert answer.status in (200, 206, 416, 422), (value, answer.status)
        if answer.status >= 400:
            answer.error_code()
        else:
            assert answer.body and answer.body in b"file", value  # a part of it at most
    for header in HOSTILE_AUTH:
        answer = await raw(sweep.app, "GET", b"/api/v1/me", [(b"authorization", header)])
        assert (answer.status, answer.error_code()) == (401, "unauthenticated"), header[:20]
    for cookie in HOSTILE_COOKIES:
        forged = [(b"cookie", b"satchel_session=" + cookie), (b"accept", b"text/html")]
        answer = await raw(sweep.app, "GET", b"/artifacts", forged)
        assert answer.status == 303 and answer.headers[b"location"].startswith(b"/login")
    for method, path in _portal_routes():
        target = _fill(path, t)
        for query in PORTAL_QUERIES:
            body = b"" if method == "GET" else b"email=a&password=b&csrf=x"
            answer = await raw(sweep.app, method, f"{target}?{query}".encode(), sweep.cookie, body)
            assert answer.status < 500, (method, path, query[:30], answer.status)
