"""Large files straight to the bucket: multipart uploads by presigned part URLs.

When the server says ``presigned_multipart`` (an S3 store), a file larger than one chunk
is cut into parts of the chunk size (the server may round it up to S3's 5 MiB minimum).
The server begins the upload and signs one ``PUT`` URL per part; each part is PUT by a
plain ``httpx`` client, with no satchel token (the URL carries its own S3 signature),
streamed from disk in pieces so memory stays bounded; then the server joins the parts,
verifies the file's SHA-256 and completes the file.

Resume: the upload's token goes to the resume journal before the first part leaves. A
process killed mid-upload leaves it there; the next one asks the server which parts the
bucket holds and sends only the others: at most the part that was cut is sent again.

A bucket this client cannot reach at all (the first part's connection cannot be opened:
an internal endpoint, a firewall) is not an error: the upload is aborted and the file goes
through the server in chunks, as on any other store, and so do the process's later files.
A connection that breaks once parts have gone through is a network error like any other:
the part is tried again a few times, then ``NetworkError`` (resumable) reaches the caller.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import httpx

from satchel.client._api import _BACKOFF, TIMEOUT, Api, tls
from satchel.errors import NetworkError, NotFoundError, SatchelError

if TYPE_CHECKING:
    from satchel.client._journal import Claim
    from satchel.client._upload import Upload

__all__ = ["BucketUnreachable", "PartSender"]

#: Part URLs asked for per request.
_BATCH: Final = 100
_UNREACHABLE: Final = (httpx.ConnectError, httpx.ConnectTimeout)


class BucketUnreachable(Exception):  # noqa: N818 - a signal, not an error to report
    """The presigned URLs point somewhere this client cannot connect to."""


class PartSender:
    """Sends files in parts to presigned URLs; one plain HTTP client for the bucket."""

    def __init__(self, api: Api) -> None:
        self._api = api
        self._bucket: httpx.Client | None = None
        #: False once the bucket proved unreachable: later files go through the server.
        self.usable = True

    def close(self) -> None:
        if self._bucket is not None:
            self._bucket.close()

    def _http(self) -> httpx.Client:
        if self._bucket is None:
            self._bucket = httpx.Client(timeout=TIMEOUT, verify=tls(), follow_redirects=False)
        return self._bucket

    def send(self, artifact_id: str, upload: Upload, claim: Claim, *, part_size: int) -> bool:
        """Upload one pending file in parts and complete it; False when the bucket is
        unreachable (nothing was sent, the upload is aborted: send the file otherwise)."""
        base = f"/artifacts/{quote(artifact_id, safe='')}/multipart"
        state = self._resumed(base, claim.uploads.get(upload.path))
        if state is not None and state["status"] == "completed":
            claim.remember_upload(upload.path, None)
            return True
        if state is None:
            made = self._api.json(
                "POST", base, retry=False, json={"path": upload.path, "part_size": part_size}
            )
            state = {**made, "uploaded": []}
            claim.remember_upload(upload.path, str(made["upload"]))
        token = str(state["upload"])
        try:
            self._send_missing(f"{base}/{token}", upload, state)
        except BucketUnreachable:
            self.usable = False
            self._api.request("DELETE", f"{base}/{token}", retry=True)
            claim.remember_upload(upload.path, None)
            return False
        self._api.json("POST", f"{base}/{token}/complete", retry=False)
        claim.remember_upload(upload.path, None)
        return True

    def _resumed(self, base: str, token: str | None) -> dict[str, Any] | None:
        """The state of an upload a killed process began (None: begin a new one)."""
        if token is None:
            return None
        try:
            return dict(self._api.json("GET", f"{base}/{token}", retry=True))
        except NotFoundError:
            return None  # expired, collected as garbage, or consumed by a failed check

    def _send_missing(self, url: str, upload: Upload, state: dict[str, Any]) -> None:
        part_size, count = int(state["part_size"]), int(state["parts"])

        def length(number: int) -> int:
            return min(part_size, upload.size - (number - 1) * part_size)

        held = {int(p["number"]) for p in state["uploaded"] if p["size"] == length(p["number"])}
        missing = [n for n in range(1, count + 1) if n not in held]
        first = not held
        for start in range(0, len(missing), _BATCH):
            numbers = missing[start : start + _BATCH]
            signed = self._api.json("POST", f"{url}/parts", retry=True, json={"numbers": numbers})
            for entry in signed["urls"]:
                number = int(entry["number"])
                offset = (number - 1) * part_size
                self._put(
                    url,
                    str(entry["url"]),
                    upload,
                    number,
                    span=(offset, length(number)),
                    first=first,
                )
                first = False

    def _put(
        self,
        url: str,
        part_url: str,
        upload: Upload,
        number: int,
        *,
        span: tuple[int, int],
        first: bool,
    ) -> None:
        """PUT one part, again (with a fresh URL) after a failure, a few times."""
        offset, length = span
        failures = 0
        while True:
            try:
                response = self._http().put(
                    part_url,
                    content=upload.pieces(offset, length),
                    headers={"Content-Length": str(length)},
                )
            except httpx.TransportError as exc:
                if first and isinstance(exc, _UNREACHABLE):
                    raise BucketUnreachable(str(exc)) from exc
                problem: str = f"{type(exc).__name__}: {exc}"
                network = True
            else:
                if response.status_code < 300:
                    return
                problem = f"HTTP {response.status_code}: {response.text[:300]}"
                network = response.status_code >= 500
            if failures >= len(_BACKOFF):
                message = f"part {number} of {upload.path!r} did not reach the bucket: {problem}"
                raise NetworkError(message) if network else SatchelError(message)
            time.sleep(_BACKOFF[failures])
            failures += 1
            # A fresh URL: the last one may have expired meanwhile.
            signed = self._api.json("POST", f"{url}/parts", retry=True, json={"numbers": [number]})
            part_url = str(signed["urls"][0]["url"])
