"""The few S3 calls obstore does not offer, signed with SigV4 over the standard library.

obstore covers objects (put, get, copy, list, delete, sign) but not multipart uploads as
things of their own: a killed process leaves an incomplete upload that only
``ListMultipartUploads`` shows and only ``AbortMultipartUpload`` removes. Garbage listing
needs both, and the test suite and benchmark need ``CreateBucket``. These are small, rare
calls, so a plain ``http.client`` request signed by hand (AWS Signature Version 4) is
enough; no second S3 client is pulled in. They need static credentials (arguments,
environment or profile); see ``satchel.storage.s3_config``.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote, urlsplit

from satchel.errors import StorageError

__all__ = ["MultipartUpload", "S3Api"]

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

    def _request(
        self, method: str, key: str | None, query: dict[str, str], body: bytes = b""
    ) -> bytes:
        path = f"{self._base}/{quote(self._bucket, safe='')}"
        if key is not None:
            path += "/" + quote(key, safe="/")
        now = datetime.now(UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        scope = f"{now:%Y%m%d}/{self._region}/s3/aws4_request"
        payload = hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
        headers = {"host": self._host, "x-amz-content-sha256": payload, "x-amz-date": amz_date}
        if self._token:
            headers["x-amz-security-token"] = self._token
        canonical_query = "&".join(
            f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items())
        )
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
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key_bytes = _hmac(("AWS4" + self._secret).encode(), f"{now:%Y%m%d}")
        for part in (self._region, "s3", "aws4_request"):
            key_bytes = _hmac(key_bytes, part)
        signature = hmac.new(key_bytes, to_sign.encode(), hashlib.sha256).hexdigest()
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
