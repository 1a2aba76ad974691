"""Multipart uploads whose parts clients PUT straight to the bucket (``PartSigner``).

The server begins an upload to a fresh temporary key (``<prefix>/tmp/<token>``, where
``iter_garbage`` finds it should it be abandoned), hands out one presigned ``UploadPart``
URL per part, and when the client says it is done: lists the parts (``ListParts``), checks
that they are 1..N with every part but the last exactly ``part_size`` bytes and ``size``
in all, completes the upload, reads the object back hashing it, and copies it to its
digest key create-only, exactly like a single presigned PUT (``S3BlobStore.adopt_upload``).
The temporary object is removed whatever the outcome.

The calls are not in obstore, so they go through ``satchel.storage._s3api`` and need
static credentials; without them ``signs_parts`` is False and the server does not offer
multipart uploads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Final

from satchel import _faults
from satchel.errors import ConflictError, StorageError, ValidationError
from satchel.hashing import Digest
from satchel.models import new_id
from satchel.storage._s3api import S3Api
from satchel.storage.base import PartUpload, UploadedPart

if TYPE_CHECKING:
    from satchel.storage.s3 import S3BlobStore

__all__ = ["MAX_PART_NUMBER", "MIN_PART_SIZE", "S3Parts", "check_layout", "choose", "part_count"]

#: S3's limits: part numbers 1..10,000, every part but the last at least 5 MiB.
MAX_PART_NUMBER: Final = 10_000
MIN_PART_SIZE: Final = 5 * 1024 * 1024
_TOKEN: Final = re.compile(r"[0-9A-Za-z]{16,40}")
#: Upload ids are the object store's; ours come back inside the server's signed token.
_UPLOAD_ID: Final = re.compile(r"[\x21-\x7e]{1,1024}")


def part_count(size: int, part_size: int) -> int:
    """How many parts ``size`` bytes take (at least one)."""
    return max(1, -(-size // part_size))


def check_layout(parts: Sequence[UploadedPart], *, size: int, part_size: int) -> list[str]:
    """What is wrong with ``parts`` as the upload of ``size`` bytes (empty: nothing)."""
    count = part_count(size, part_size)
    have = {p.number: p for p in parts}
    problems = []
    missing = [n for n in range(1, count + 1) if n not in have]
    if missing:
        shown = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
        problems.append(f"parts missing: {shown}")
    extra = sorted(n for n in have if n > count)
    if extra:
        problems.append(f"parts beyond the last ({count}): {', '.join(map(str, extra[:20]))}")
    for number in range(1, count + 1):
        part = have.get(number)
        want = part_size if number < count else size - part_size * (count - 1)
        if part is not None and part.size != want:
            problems.append(f"part {number} has {part.size} bytes, not {want}")
    return problems


def choose(
    listed: Sequence[tuple[UploadedPart, str]], *, size: int, part_size: int
) -> list[UploadedPart]:
    """One part per number, by number: of several uploads of one part (SeaweedFS lists
    each), the latest, and among equally late ones the one of the right size. Which bytes
    they hold is checked anyway: the joined object must hash to the file's digest."""
    count = part_count(size, part_size)
    best: dict[int, tuple[str, bool, int]] = {}
    chosen: dict[int, UploadedPart] = {}
    for position, (part, modified) in enumerate(listed):
        want = part_size if part.number < count else size - part_size * (count - 1)
        rank = (modified, part.size == want, position)
        if part.number not in best or rank > best[part.number]:
            best[part.number], chosen[part.number] = rank, part
    return [chosen[n] for n in sorted(chosen)]


class S3Parts:
    """The ``PartSigner`` calls of one ``S3BlobStore`` (which delegates to this)."""

    def __init__(self, store: S3BlobStore, api: S3Api | None, *, tmp: str) -> None:
        self._store = store
        self._api = api
        self._tmp = tmp

    def _need_api(self) -> S3Api:
        if self._api is None:
            raise StorageError("multipart uploads by URL need static S3 credentials")
        return self._api

    def _key(self, upload: PartUpload) -> tuple[str, str]:
        """The temporary key relative to the store and the bucket's full key."""
        if not _TOKEN.fullmatch(upload.token) or not _UPLOAD_ID.fullmatch(upload.upload_id):
            raise ValidationError(f"not a multipart upload: {upload.token!r}")
        relative = self._tmp + upload.token
        return relative, self._store.location.key(relative)

    @property
    def signs_parts(self) -> bool:
        return self._api is not None

    def start(self) -> PartUpload:
        token = new_id()
        upload = PartUpload(token=token, upload_id="-")
        _, key = self._key(upload)
        return PartUpload(token=token, upload_id=self._need_api().create_multipart_upload(key))

    def presign(self, upload: PartUpload, number: int, expires: timedelta) -> str:
        if not 1 <= number <= MAX_PART_NUMBER:
            raise ValidationError(f"part numbers are 1 to {MAX_PART_NUMBER}, not {number}")
        _, key = self._key(upload)
        return self._need_api().presign_upload_part(key, upload.upload_id, number, expires)

    def list(self, upload: PartUpload) -> list[UploadedPart]:
        _, key = self._key(upload)
        listed = self._need_api().list_parts(key, upload.upload_id)
        return choose(listed, size=0, part_size=1)  # sizes unknown here: the latest

    def complete(self, upload: PartUpload, digest: Digest, *, size: int, part_size: int) -> bool:
        relative, key = self._key(upload)
        api = self._need_api()
        parts = choose(api.list_parts(key, upload.upload_id), size=size, part_size=part_size)
        problems = check_layout(parts, size=size, part_size=part_size)
        if problems:
            raise ConflictError(
                f"the upload is not complete ({'; '.join(problems)}): PUT those parts, "
                "then complete it again"
            )
        api.complete_multipart_upload(key, upload.upload_id, parts)
        _faults.point("parts.joined")
        return self._store.publish_verified(relative, digest)

    def abort(self, upload: PartUpload) -> None:
        _, key = self._key(upload)
        self._need_api().abort_multipart_upload(key, upload.upload_id)
