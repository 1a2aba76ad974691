"""The HTTP layer of the remote core: one ``httpx.Client``, errors mapped back to classes.

An error answer ``{"error": {"code", "message"}}`` raises the class of its code
(``error_class_for_code``), so a remote ``NotFoundError`` is the embedded one. A request
that never reached the server, or whose connection dropped, raises ``NetworkError`` after a
few retries; only requests that are safe to repeat are repeated (``retry=True``), plus any
request whose connection could not even be opened.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlsplit

import httpx

from satchel.errors import (
    ConfigError,
    NetworkError,
    SatchelError,
    error_class_for_code,
)
from satchel.usage import UsageReport

__all__ = ["API_PREFIX", "TIMEOUT", "Api", "ServerInfo", "file_url", "raise_for_error", "tls"]

API_PREFIX: Final = "/api/v1"
#: Attempts of a request that is safe to repeat, and the pause before each retry.
_BACKOFF: Final = (0.2, 0.5, 1.0, 2.0)
#: Statuses a proxy answers for a server it cannot reach.
_GATEWAY: Final = frozenset({502, 503, 504})
TIMEOUT: Final = httpx.Timeout(connect=10.0, read=600.0, write=600.0, pool=60.0)
_UNSAFE_KEY: Final = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerInfo:
    """What a server accepts (``GET /info``)."""

    version: str
    content_max: int
    body_max: int
    #: The server hands out presigned part URLs: large files go straight to the bucket.
    presigned_multipart: bool = False


def file_url(artifact_id: str, path: str, *, route: str = "files") -> str:
    """``/artifacts/{id}/{route}/{path}`` with each segment of the file key percent-encoded."""
    segments = "/".join(quote(part, safe="") for part in path.split("/"))
    return f"/artifacts/{quote(artifact_id, safe='')}/{route}/{segments}"


def raise_for_error(response: httpx.Response) -> None:
    """Raise the satchel error an error answer stands for (nothing for a success)."""
    if response.status_code < 400:
        return
    code, message = _error_of(response)
    if code is None:
        if response.status_code in _GATEWAY:
            raise NetworkError(
                f"the satchel server at {response.url.host} is unavailable "
                f"(HTTP {response.status_code} from something in between)"
            )
        raise SatchelError(f"HTTP {response.status_code} from {response.url}: {message}")
    error = error_class_for_code(code)(message)
    error.message = message  # as the server said it (some classes decorate their own)
    raise error


def _error_of(response: httpx.Response) -> tuple[str | None, str]:
    try:
        response.read()
        body = response.json()
        error = body["error"]
        code, message = error["code"], error["message"]
        if isinstance(code, str) and isinstance(message, str):
            return code, message
    except (ValueError, KeyError, TypeError, httpx.HTTPError):
        pass
    return None, response.reason_phrase or "no satchel error in the answer"


class Api:
    """A satchel server's ``/api/v1`` with one token, over one pooled ``httpx.Client``.

    The client is thread-safe: the async facade's I/O threads share it.
    """

    def __init__(self, url: str, token: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"not a satchel server URL: {url!r}")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ConfigError(
                f"a satchel server URL has no query, fragment or user info: {url!r}; "
                "give the token as token= or SATCHEL_TOKEN"
            )
        self.url = url.rstrip("/")
        #: A name for this server that is safe in a file name (local copies live under it).
        self.key = _key_of(self.url)
        self._http = httpx.Client(
            base_url=self.url + API_PREFIX,
            headers={"Authorization": f"Bearer {token}", "User-Agent": _user_agent()},
            timeout=TIMEOUT,
            verify=tls(),
            follow_redirects=False,
        )
        self._info: ServerInfo | None = None

    def close(self) -> None:
        self._http.close()

    def info(self) -> ServerInfo:
        """The server's limits, asked once."""
        if self._info is None:
            body = self.json("GET", "/info", retry=True)
            self._info = ServerInfo(
                version=str(body.get("version", "?")),
                content_max=int(body["content_max"]),
                body_max=int(body["body_max"]),
                presigned_multipart=body.get("presigned_multipart") is True,
            )
        return self._info

    def usage(self) -> UsageReport:
        """The usage figures the caller may see (``GET /usage``): their org's."""
        return UsageReport.from_dict(self.json("GET", "/usage", retry=True))

    def request(
        self,
        method: str,
        path: str,
        *,
        retry: bool,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request (again on a dropped connection when ``retry``); raise the
        satchel error of an error answer."""
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    method, path, json=json, params=params, content=content, headers=headers
                )
            except httpx.TransportError as exc:
                unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if (retry or unsent) and content is None and attempt < len(_BACKOFF):
                    time.sleep(_BACKOFF[attempt])
                    attempt += 1
                    continue
                raise self.network_error(exc) from exc
            if response.status_code in _GATEWAY and retry and attempt < len(_BACKOFF):
                time.sleep(_BACKOFF[attempt])
                attempt += 1
                continue
            raise_for_error(response)
            return response

    def json(self, method: str, path: str, *, retry: bool, **kwargs: Any) -> Any:
        """``request`` and its JSON answer."""
        response = self.request(method, path, retry=retry, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise SatchelError(f"{method} {path}: the server's answer is not JSON") from exc

    @contextlib.contextmanager
    def stream(self, path: str, *, headers: Mapping[str, str]) -> Iterator[httpx.Response]:
        """A streamed ``GET``; transport errors reach the caller as ``httpx`` errors, so
        that a download can tell a connection cut mid-body from an unreachable server."""
        with self._http.stream("GET", path, headers=headers) as response:
            raise_for_error(response)
            yield response

    def network_error(self, exc: httpx.TransportError) -> NetworkError:
        return NetworkError(
            f"cannot reach the satchel server at {self.url}: {type(exc).__name__}: {exc}"
        )


@functools.cache
def tls() -> ssl.SSLContext:
    """One TLS context per process (loading the CA bundle takes tens of milliseconds, which
    every ``Context`` would otherwise pay); contexts are safe to share between clients."""
    return httpx.create_ssl_context()


def _key_of(url: str) -> str:
    parts = urlsplit(url)
    readable = _UNSAFE_KEY.sub("_", f"{parts.hostname}_{parts.port or parts.scheme}")
    return f"{readable}-{hashlib.sha256(url.encode()).hexdigest()[:12]}"


def _user_agent() -> str:
    from satchel import __version__  # noqa: PLC0415 - the package imports this module

    return f"satchel/{__version__} httpx/{httpx.__version__}"
