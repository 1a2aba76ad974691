"""Multipart uploads by presigned part URLs (``PartSigner`` on the S3 store), against a real
SeaweedFS: parts PUT by a plain HTTP client with no credentials, listed for resume,
completed only when laid out right and verified, aborted, collected as garbage, and
refused once a URL has expired or was changed.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from _seaweed import Seaweed, unique_prefix
from satchel.errors import ConflictError, IntegrityError, NotFoundError, ValidationError
from satchel.hashing import Digest
from satchel.storage import PartSigner
from satchel.storage.base import PartUpload, UploadedPart
from satchel.storage.s3 import S3BlobStore
from satchel.storage.s3_parts import check_layout

MIB = 1024 * 1024
PART = 5 * MIB


def digest_of(data: bytes) -> Digest:
    return Digest(hexdigest=hashlib.sha256(data).hexdigest())


@pytest.fixture
def store(seaweed: Seaweed) -> S3BlobStore:
    return S3BlobStore(seaweed.url(unique_prefix()) + "&part_size=5MiB&concurrency=2")


def put_part(url: str, data: bytes) -> httpx.Response:
    return httpx.put(url, content=data, timeout=60)


def send(store: S3BlobStore, upload: PartUpload, data: bytes, numbers: list[int]) -> None:
    for number in numbers:
        url = store.presign_part(upload, number, timedelta(minutes=5))
        response = put_part(url, data[(number - 1) * PART : number * PART])
        assert response.status_code == 200, response.text


def test_the_store_signs_parts_with_static_credentials_only(
    store: S3BlobStore, seaweed: Seaweed
) -> None:
    assert isinstance(store, PartSigner)
    assert store.signs_parts is True
    assert store.min_part_size == PART
    keyless = S3BlobStore(seaweed.url(unique_prefix()), environ={})
    assert keyless.signs_parts is (keyless._api is not None)


def test_parts_put_by_url_are_listed_completed_verified_and_published(
    store: S3BlobStore,
) -> None:
    data = os.urandom(2 * PART + 12345)
    digest = digest_of(data)
    upload = store.start_parts()
    assert store.list_parts(upload) == []
    send(store, upload, data, [3, 1])  # any order
    listed = store.list_parts(upload)
    assert [(p.number, p.size) for p in listed] == [(1, PART), (3, 12345)]
    with pytest.raises(ConflictError, match="parts missing: 2"):
        store.complete_parts(upload, digest, size=len(data), part_size=PART)
    assert store.stat(digest) is None
    send(store, upload, data, [2])
    assert store.complete_parts(upload, digest, size=len(data), part_size=PART) is True
    with store.open_read(digest) as reader:
        out = bytearray()
        buffer = bytearray(MIB)
        while n := reader.readinto(buffer):
            out += buffer[:n]
    assert bytes(out) == data
    # Nothing is left: no temporary object, no open upload.
    assert list(store.iter_garbage(older_than=timedelta(0))) == []
    with pytest.raises(NotFoundError):
        store.list_parts(upload)


def test_tampered_bytes_are_not_published_and_the_upload_is_gone(store: S3BlobStore) -> None:
    data = os.urandom(PART + 100)
    digest = digest_of(data)
    upload = store.start_parts()
    tampered = bytearray(data)
    tampered[PART + 7] ^= 1
    send(store, upload, bytes(tampered), [1, 2])
    with pytest.raises(IntegrityError):
        store.complete_parts(upload, digest, size=len(data), part_size=PART)
    assert store.stat(digest) is None
    assert list(store.iter_garbage(older_than=timedelta(0))) == []


def test_wrong_part_sizes_are_refused_before_completing(store: S3BlobStore) -> None:
    data = os.urandom(PART + 100)
    upload = store.start_parts()
    send(store, upload, data + b"extra", [1, 2])
    with pytest.raises(ConflictError, match="part 2 has 105 bytes, not 100"):
        store.complete_parts(upload, digest_of(data), size=len(data), part_size=PART)
    # Still open: the right part can replace the wrong one.
    send(store, upload, data, [2])
    assert store.complete_parts(upload, digest_of(data), size=len(data), part_size=PART)


def test_an_abandoned_upload_is_garbage_and_abort_frees_it(store: S3BlobStore) -> None:
    upload = store.start_parts()
    send(store, upload, os.urandom(PART), [1])
    items = list(store.iter_garbage(older_than=timedelta(0)))
    assert [(g.kind, g.key, g.upload_id) for g in items] == [
        ("multipart_upload", f"tmp/{upload.token}", upload.upload_id)
    ]
    store.abort_parts(upload)
    assert list(store.iter_garbage(older_than=timedelta(0))) == []
    with pytest.raises(NotFoundError):
        store.list_parts(upload)


def test_an_expired_or_altered_part_url_is_refused(store: S3BlobStore) -> None:
    upload = store.start_parts()
    api = store._api
    assert api is not None
    key = store.location.key(f"tmp/{upload.token}")
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    expired = api.presign_upload_part(
        key, upload.upload_id, 1, timedelta(minutes=5), now=an_hour_ago
    )
    refused = put_part(expired, b"late")
    assert refused.status_code == 403, refused.text
    live = store.presign_part(upload, 1, timedelta(minutes=5))
    parts = urlsplit(live)
    query = dict(parse_qsl(parts.query))
    query["partNumber"] = "2"  # another part than the one signed
    moved = parts._replace(query=urlencode(query)).geturl()
    assert put_part(moved, b"moved").status_code == 403
    assert store.list_parts(upload) == []
    assert put_part(live, b"in time").status_code == 200
    assert [p.number for p in store.list_parts(upload)] == [1]
    store.abort_parts(upload)


def test_bad_handles_are_refused(store: S3BlobStore) -> None:
    with pytest.raises(ValidationError):
        store.presign_part(PartUpload(token="../../etc", upload_id="x"), 1, timedelta(minutes=1))
    upload = store.start_parts()
    with pytest.raises(ValidationError):
        store.presign_part(upload, 0, timedelta(minutes=1))
    with pytest.raises(ValidationError):
        store.presign_part(upload, 10_001, timedelta(minutes=1))
    store.abort_parts(upload)


@pytest.mark.parametrize(
    ("sizes", "total", "problem"),
    [
        ([10, 10, 5], 25, None),
        ([10, 10], 25, "parts missing: 3"),
        ([10, 9, 4], 24, "part 2 has 9 bytes, not 10"),
        ([10, 10, 5, 1], 25, "parts beyond the last (3): 4"),
        ([3], 3, None),
    ],
)
def test_layout_check(sizes: list[int], total: int, problem: str | None) -> None:
    parts = [UploadedPart(number=n, size=s, etag="e") for n, s in enumerate(sizes, 1)]
    found = check_layout(parts, size=total, part_size=10)
    assert found == ([] if problem is None else [problem])
