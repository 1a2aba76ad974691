"""The few S3 calls obstore does not offer, signed with SigV4 over the standard library.

obstore covers objects (put, get, copy, list, delete, sign) but not multipart uploads as
things of their own: a killed process leaves an incomplete upload that only
``ListMultipartUploads`` shows and only ``AbortMultipartUpload`` removes. Garbage listing
needs both, and the test suite and benchmark need ``CreateBucket``. Uploads whose parts
clients PUT straight to the bucket (``satchel.storage.s3_parts``) need the rest of the
multipart calls (``CreateMultipartUpload``, ``ListParts``, ``CompleteMultipartUpload``) and
an ``UploadPart`` URL presigned in its query string. These are small, rare calls, so a
plain ``http.client`` request signed by hand (AWS Signature Version 4) is enough; no
second S3 client is pulled in. They need static credentials (arguments,
environment or profile); see ``satchel.storage.s3_config``.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import escape

from satchel.errors import NotFoundError, StorageError
from satchel.storage.base import UploadedPart

__all__ = ["MultipartUpload", "S3Api"]

#: The longest a SigV4 presigned URL may live.
MAX_PRESIGN: Final = timedelta(days=7)

_EMPTY_SHA256: Final = hashlib.sha256(b"").hexdigest()
_NS: Final = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@dataclass(frozen=True, slots=True, kw_only=True)
class MultipartUpload:
    """An upload begun and not completed (nor aborted)."""

    key: str
    upload_id: str
    initiated: datetime


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _find(element: ET.Element, name: str) -> str | None:
    found = element.find(_NS + name)
    if found is None:
        found = element.find(name)
    return None if found is None else (found.text or "")


class S3Api:
    """Signed requests to one bucket at a path-style endpoint."""

    def __init__(
        self,
        *,
        endpoint: str,
        bucket: str,
        region: str,
        access_key_id: str,
        secret_access_key: str,
        session_token: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise StorageError(f"not an http(s) endpoint: {endpoint!r}")
        self._https = parts.scheme == "https"
        self._host = parts.netloc
        self._base = parts.path.rstrip("/")
        self._bucket = bucket
        self._region = region
        self._key_id = access_key_id
        self._secret = secret_access_key
        self._token = session_token
        self._timeout = timeout

    def _path(self, key: str | None) -> str:
        path = f"{self._base}/{quote(self._bucket, safe='')}"
        if key is not None:
            path += "/" + quote(key, safe="/")
        return path

    def _signature(self, now: datetime, canonical: str) -> str:
        """SigV4: the canonical request's string to sign, HMAC'd with the day's key."""
        scope = f"{now:%Y%m%d}/{self._region}/s3/aws4_request"
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256",
                now.strftime("%Y%m%dT%H%M%SZ"),
                scope,
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        key_bytes = _hmac(("AWS4" + self._secret).encode(), f"{now:%Y%m%d}")
        for part in (self._region, "s3", "aws4_request"):
            key_bytes = _hmac(key_bytes, part)
        return hmac.new(key_bytes, to_sign.encode(), hashlib.sha256).hexdigest()

    def _request(
        self, method: str, key: str | None, query: dict[str, str], body: bytes = b""
    ) -> bytes:
        path = self._path(key)
        now = datetime.now(UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        scope = f"{now:%Y%m%d}/{self._region}/s3/aws4_request"
        payload = hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
        headers = {"host": self._host, "x-amz-content-sha256": payload, "x-amz-date": amz_date}
        if self._token:
            headers["x-amz-security-token"] = self._token
        canonical_query = _canonical_query(query)
        signed = ";".join(sorted(headers))
        canonical = "\n".join(
            [
                method,
                path,
                canonical_query,
                *(f"{k}:{headers[k]}" for k in sorted(headers)),
                "",
                signed,
                payload,
            ]
        )
        signature = self._signature(now, canonical)
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self._key_id}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}"
        )
        connection_class = (
            http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        )
        connection = connection_class(self._host, timeout=self._timeout)
        try:
            target = path + (f"?{canonical_query}" if canonical_query else "")
            connection.request(method, target, body=body or None, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except OSError as exc:
            raise StorageError(f"S3 {method} request failed: {exc}") from exc
        finally:
            connection.close()
        if response.status == 404 and b"NoSuchUpload" in data:
            raise NotFoundError(f"no multipart upload {query.get('uploadId', '?')!r} at {path}")
        if response.status >= 300:
            raise StorageError(
                f"S3 {method} {path}?{canonical_query} answered {response.status}: "
                f"{data[:300].decode('utf-8', 'replace')}"
            )
        return data

    def create_bucket(self) -> None:
        """Create the bucket; one that exists already and is ours is fine."""
        try:
            self._request("PUT", None, {})
        except StorageError as exc:
            if "BucketAlreadyOwnedByYou" not in str(exc) and "BucketAlreadyExists" not in str(exc):
                raise

    def list_multipart_uploads(self, prefix: str) -> Iterator[MultipartUpload]:
        """Every incomplete multipart upload whose key starts with ``prefix``."""
        query = {"uploads": "", "prefix": prefix}
        while True:
            root = ET.fromstring(self._request("GET", None, query))  # noqa: S314
            for upload in root.iter(_NS + "Upload"):
                key, upload_id = _find(upload, "Key"), _find(upload, "UploadId")
                initiated = _find(upload, "Initiated")
                if not key or not upload_id or not initiated:
                    continue
                when = datetime.fromisoformat(initiated.replace("Z", "+00:00"))
                yield MultipartUpload(key=key, upload_id=upload_id, initiated=when)
            if _find(root, "IsTruncated") != "true":
                return
            query = {
                "uploads": "",
                "prefix": prefix,
                "key-marker": _find(root, "NextKeyMarker") or "",
                "upload-id-marker": _find(root, "NextUploadIdMarker") or "",
            }

    def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        """Abort an upload; its parts are freed and its key never appears."""
        self._request("DELETE", key, {"uploadId": upload_id})

    def create_multipart_upload(self, key: str) -> str:
        """Begin a multipart upload to ``key``; returns its upload id."""
        root = ET.fromstring(self._request("POST", key, {"uploads": ""}))  # noqa: S314
        upload_id = _find(root, "UploadId")
        if not upload_id:
            raise StorageError(f"S3 CreateMultipartUpload of {key} answered no UploadId")
        return upload_id

    def list_parts(self, key: str, upload_id: str) -> list[tuple[UploadedPart, str]]:
        """The parts uploaded so far with their ``LastModified``, in the order listed;
        ``NotFoundError`` when the upload is gone.

        A part number may appear more than once: SeaweedFS lists every upload of a part
        sent again (AWS keeps the last one only); ``s3_parts`` chooses among them.
        """
        parts: list[tuple[UploadedPart, str]] = []
        query = {"uploadId": upload_id, "max-parts": "1000"}
        while True:
            root = ET.fromstring(self._request("GET", key, query))  # noqa: S314
            for element in root.iter(_NS + "Part"):
                number, size = _find(element, "PartNumber"), _find(element, "Size")
                etag = _find(element, "ETag")
                if not number or not size or etag is None:
                    continue
                part = UploadedPart(number=int(number), size=int(size), etag=etag)
                parts.append((part, _find(element, "LastModified") or ""))
            marker = _find(root, "NextPartNumberMarker")
            if _find(root, "IsTruncated") != "true" or not marker:
                return parts
            query = {**query, "part-number-marker": marker}

    def complete_multipart_upload(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart]
    ) -> None:
        """Join ``parts`` (in order) into the object at ``key``."""
        body = "".join(
            f"<Part><PartNumber>{p.number}</PartNumber><ETag>{escape(p.etag)}</ETag></Part>"
            for p in parts
        )
        xml = f"<CompleteMultipartUpload>{body}</CompleteMultipartUpload>".encode()
        answer = self._request("POST", key, {"uploadId": upload_id}, xml)
        # S3 may answer 200 and still fail: the error is then in the body.
        if answer.strip() and ET.fromstring(answer).tag in ("Error", _NS + "Error"):  # noqa: S314
            raise StorageError(
                f"S3 CompleteMultipartUpload of {key} failed: "
                f"{answer[:300].decode('utf-8', 'replace')}"
            )

    def presign_upload_part(
        self,
        key: str,
        upload_id: str,
        number: int,
        expires: timedelta,
        *,
        now: datetime | None = None,
    ) -> str:
        """A URL that PUTs part ``number`` of an upload (see ``presign``)."""
        query = {"partNumber": str(number), "uploadId": upload_id}
        return self.presign("PUT", key, expires, query, now=now)

    def presign(
        self,
        method: str,
        key: str,
        expires: timedelta,
        query: dict[str, str] | None = None,
        *,
        now: datetime | None = None,
    ) -> str:
        """A URL for ``method`` on ``key``, signed in its query string with ``query``.

        SigV4 query-string presigning: only ``host`` is a signed header and the payload is
        ``UNSIGNED-PAYLOAD``, so any HTTP client can use it without credentials until
        ``expires`` after ``now`` (the S3 server judges that by its own clock). Every
        parameter of ``query`` is signed: a GET's ``response-content-disposition`` cannot
        be changed by whoever holds the URL.
        """
        seconds = int(expires.total_seconds())
        if not 1 <= seconds <= MAX_PRESIGN.total_seconds():
            raise StorageError(f"a presigned URL lives 1 s to 7 days, not {seconds} s")
        when = (now or datetime.now(UTC)).astimezone(UTC)
        scope = f"{when:%Y%m%d}/{self._region}/s3/aws4_request"
        signed = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"{self._key_id}/{scope}",
            "X-Amz-Date": when.strftime("%Y%m%dT%H%M%SZ"),
            "X-Amz-Expires": str(seconds),
            "X-Amz-SignedHeaders": "host",
            **(query or {}),
        }
        if self._token:
            signed["X-Amz-Security-Token"] = self._token
        path = self._path(key)
        canonical_query = _canonical_query(signed)
        canonical = "\n".join(
            [method, path, canonical_query, f"host:{self._host}", "", "host", "UNSIGNED-PAYLOAD"]
        )
        signature = self._signature(when, canonical)
        scheme = "https" if self._https else "http"
        return f"{scheme}://{self._host}{path}?{canonical_query}&X-Amz-Signature={signature}"


def _canonical_query(query: dict[str, str]) -> str:
    return "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items())
    )
