"""Blobs in an S3-compatible bucket through ``obstore`` (AWS S3, MinIO, SeaweedFS).

Keys: ``<prefix>/blobs/<layout key>`` for blobs (``storage.layout``, digests only) and
``<prefix>/tmp/<id>`` for streamed uploads not yet published. URL form, credentials and
options: ``satchel.storage.s3_config``.

How a blob gets under its key, and why (measured on SeaweedFS 4.48 with obstore 0.12):

* SeaweedFS honours ``If-None-Match: *`` on PUT (412 when the key exists, atomic: of
  12 racing writers exactly one wins), on CompleteMultipartUpload, and on CopyObject.
  obstore, however, cannot make a multipart upload conditional: ``put(mode="create")``
  buffers the whole input in memory for one PUT. So:
* **Small blobs** (up to ``part_size``, default 8 MiB) go as one create-only PUT straight
  to the digest key: put-if-absent is atomic, ``commit`` returns True exactly once.
* **A file** (``put_verified``, the ``DigestFirstUpload`` ability): the store layer hashes
  it first (or knows its digest from the hash cache), then it is uploaded once, as a
  multipart upload straight to the digest key, hashed again on the way. If the second
  hash differs (the file changed), the generator feeding the upload raises and obstore
  aborts the upload, so nothing appears. The key exists only once Complete succeeds (S3
  semantics). A blob already present is not uploaded again (HEAD first); two processes
  racing on the same new digest may both complete, the last one wins, and since both
  uploaded verified identical bytes one correct object stays. Measured: a 1 GiB upload
  took ~13 s and a server-side copy of it ~7 s, while hashing it takes ~1 s, so hashing
  first beats upload-then-copy by far.
* **Reads** are streaming GETs of 256 MiB windows, handed out in ``part_size`` chunks.
* **A stream** (the ``BlobSink``; digest known only at ``commit``): once it outgrows one
  part it is uploaded with ``obstore.open_writer`` (multipart, ``part_size`` parts,
  ``concurrency`` in flight) to a temporary key; ``commit`` completes it, copies it to the
  digest key create-only (``copy_if_not_exists``: ``If-None-Match: *`` on CopyObject by
  default with an endpoint, atomic on SeaweedFS; obstore's ``multipart`` on AWS itself,
  which on SeaweedFS was not atomic: 5-9 of 12 racers "won") and deletes the temporary
  object.

Memory: at most ``(concurrency + 1) x part_size`` bytes are buffered (72 MiB by default),
whatever the blob size; the URL options are capped so that this stays under 200 MiB.

Clients may also upload straight to the bucket: one presigned PUT to a temporary key
(``presign_put``/``adopt_upload``), or a multipart upload whose parts they PUT to presigned
URLs (the ``PartSigner`` ability, ``satchel.storage.s3_parts``); either is read back and
verified before it is published under its digest.

Garbage: a killed upload leaves an incomplete multipart upload (listed through
``ListMultipartUploads``, which obstore lacks: ``satchel.storage._s3api``) or a temporary
object; neither is under a digest key. ``iter_garbage`` lists both past a grace period,
``remove_garbage`` aborts or deletes one. A bucket lifecycle rule
(AbortIncompleteMultipartUpload) is a good second net on AWS.

GCS (``gs://``) and Azure (``az://``) have obstore stores with the same calls; this
module could wrap them with a different store constructor, but only S3 is tested.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, BinaryIO, Final, NoReturn

from satchel.errors import (
    ConflictError,
    IntegrityError,
    MissingDependencyError,
    NotFoundError,
    StorageError,
    ValidationError,
)
from satchel.hashing import Digest
from satchel.models import new_id
from satchel.storage._s3api import S3Api
from satchel.storage.base import GarbageItem, PartUpload, SignedUpload, UploadedPart
from satchel.storage.layout import blob_key, digest_from_key
from satchel.storage.s3_config import (
    AWS_COPY_IF_NOT_EXISTS,
    HEADER_COPY_IF_NOT_EXISTS,
    S3Credentials,
    S3Location,
    parse_s3_url,
    resolve,
)
from satchel.storage.s3_parts import MIN_PART_SIZE, S3Parts

try:
    import obstore as obs
    from obstore.exceptions import AlreadyExistsError, BaseError, PreconditionError
    from obstore.store import S3Store
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise MissingDependencyError("s3:// stores need obstore: pip install 'satchel[s3]'") from exc

if TYPE_CHECKING:
    from obstore import BytesStream, WritableFile

__all__ = ["S3BlobStore"]

BLOBS: Final = "blobs/"
TMP: Final = "tmp/"
#: One GET per this many bytes when reading (see ``_S3Reader``).
READ_WINDOW: Final = 256 * 1024 * 1024
#: S3 allows at most 10,000 parts per upload; parts grow past part_size for huge files.
MAX_PARTS: Final = 10_000
_TOKEN = re.compile(r"[0-9A-Za-z]{16,40}")


def _fail(action: str, exc: BaseException) -> NoReturn:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    raise StorageError(f"S3 {action} failed: {first_line[:400]}") from exc


class _S3Sink:
    """Bytes in memory up to one part, then a multipart upload to a temporary key."""

    def __init__(self, store: S3BlobStore) -> None:
        self._store = store
        self._buffer: bytearray | None = bytearray()
        self._writer: WritableFile | None = None
        self._temp: str | None = None
        self._closed = False

    def write(self, data: bytes | bytearray | memoryview, /) -> None:
        if self._closed:
            raise StorageError("blob sink is closed")
        view = memoryview(data).cast("B")
        try:
            if self._writer is not None:
                self._writer.write(view)
                return
            assert self._buffer is not None
            self._buffer += view
            if len(self._buffer) > self._store.location.part_size:
                self._temp = TMP + new_id()
                self._writer = obs.open_writer(
                    self._store.obstore,
                    self._temp,
                    buffer_size=self._store.location.part_size,
                    max_concurrency=self._store.location.concurrency,
                )
                buffered, self._buffer = self._buffer, None
                self._writer.write(buffered)
        except (BaseError, OSError, RuntimeError) as exc:
            self.abort()
            _fail("upload of a blob part", exc)

    def commit(self, digest: Digest) -> bool:
        if self._closed:
            raise StorageError("blob sink is closed")
        self._closed = True
        if self._buffer is not None:
            data, self._buffer = bytes(self._buffer), None
            return self._store.put_small(digest, data, replace=False)
        assert self._writer is not None and self._temp is not None
        writer, self._writer = self._writer, None
        try:
            writer.close()  # completes the multipart upload under the temporary key
        except (BaseError, OSError, RuntimeError) as exc:
            self._discard_temp()
            _fail("completing an upload", exc)
        try:
            return self._store.publish(self._temp, digest)
        finally:
            self._discard_temp()

    def _discard_temp(self) -> None:
        temp, self._temp = self._temp, None
        if temp is not None:
            with contextlib.suppress(BaseError, OSError):
                obs.delete(self._store.obstore, temp)

    def abort(self) -> None:
        self._closed = True
        self._buffer = None
        writer, self._writer = self._writer, None
        if writer is not None:
            # Leaving the context with an exception aborts the multipart upload.
            with contextlib.suppress(BaseError, OSError, RuntimeError):
                writer.__exit__(StorageError, StorageError("aborted"), None)
            self._temp = None
        self._discard_temp()


class _S3Reader:
    """Streaming GETs, one per window of ``READ_WINDOW`` bytes, handed out in chunks.

    One streaming GET reads ~1.5x faster than ranged GETs of one part each (measured on
    SeaweedFS); windows keep every request's duration bounded (the client's timeout is
    per request) and a chunk of about ``part_size`` is all that is held.
    """

    def __init__(self, store: S3BlobStore, key: str) -> None:
        self._store = store
        self._key = key
        try:
            self._size = int(obs.head(store.obstore, key)["size"])
        except FileNotFoundError as exc:
            raise NotFoundError(f"no blob at {key} in {store.url}") from exc
        except (BaseError, OSError) as exc:
            _fail("opening a blob", exc)
        self._pos = 0
        self._stream: BytesStream | None = None
        self._pending = memoryview(b"")

    def _next_chunk(self) -> bool:
        """Load the next chunk into ``_pending``; False at the end of the blob."""
        while True:
            if self._stream is not None:
                chunk = next(self._stream, None)
                if chunk is not None:
                    self._pending = memoryview(chunk).cast("B")
                    self._pos += len(self._pending)
                    return True
                self._stream = None
            if self._pos >= self._size:
                return False
            end = min(self._pos + self._store.read_window, self._size)
            result = obs.get(self._store.obstore, self._key, options={"range": (self._pos, end)})
            self._stream = result.stream(min_chunk_size=self._store.location.part_size)

    def readinto(self, buffer: bytearray | memoryview, /) -> int:
        target = memoryview(buffer).cast("B")
        if not self._pending:
            try:
                if not self._next_chunk():
                    return 0
            except FileNotFoundError as exc:
                raise NotFoundError(f"blob {self._key} vanished while it was read") from exc
            except (BaseError, OSError) as exc:
                _fail("reading a blob", exc)
        n = min(len(target), len(self._pending))
        target[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._stream = None
        self._pending = memoryview(b"")

    def __enter__(self) -> _S3Reader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class S3BlobStore:
    """Content-addressed blobs in one bucket under one prefix.

    Args:
        location: an ``s3://`` URL or a parsed ``S3Location``.
        credentials: static keys; when None, the environment, then the AWS profile, then
            obstore's own chain (``satchel.storage.s3_config``).
        environ: the environment to read (default ``os.environ``), for tests.
        timeout: the per-request timeout (obstore's format, e.g. ``"300s"``).
        read_window: bytes per GET when reading (smaller in tests, to cross windows).
    """

    def __init__(
        self,
        location: S3Location | str,
        *,
        credentials: S3Credentials | None = None,
        environ: Mapping[str, str] | None = None,
        timeout: str = "300s",
        read_window: int = READ_WINDOW,
    ) -> None:
        self.read_window = read_window
        self.location = parse_s3_url(location) if isinstance(location, str) else location
        found, region, endpoint = resolve(self.location, credentials, environ)
        config: dict[str, object] = {
            "region": region,
            "copy_if_not_exists": self.location.copy_if_not_exists
            or (HEADER_COPY_IF_NOT_EXISTS if endpoint else AWS_COPY_IF_NOT_EXISTS),
        }
        if endpoint is not None:
            config["endpoint"] = endpoint
        if found is not None:
            config["access_key_id"] = found.access_key_id
            config["secret_access_key"] = found.secret_access_key
            if found.session_token:
                config["session_token"] = found.session_token
        client: dict[str, object] = {"timeout": timeout, "connect_timeout": "10s"}
        if endpoint is not None and endpoint.startswith("http://"):
            client["allow_http"] = True
        try:
            self.obstore = S3Store(
                self.location.bucket,
                prefix=self.location.prefix or None,
                config=config,  # type: ignore[arg-type]
                client_options=client,  # type: ignore[arg-type]
            )
        except (BaseError, ValueError) as exc:
            raise StorageError(f"cannot open {self.location.url}: {exc}") from exc
        self._api: S3Api | None = None
        if found is not None:
            self._api = S3Api(
                endpoint=endpoint or f"https://s3.{region}.amazonaws.com",
                bucket=self.location.bucket,
                region=region,
                access_key_id=found.access_key_id,
                secret_access_key=found.secret_access_key,
                session_token=found.session_token,
            )
        self._parts = S3Parts(self, self._api, tmp=TMP)

    # -- the BlobStore Protocol -----------------------------------------------------------

    @property
    def url(self) -> str:
        return self.location.url

    def open_sink(self) -> _S3Sink:
        return _S3Sink(self)

    def stat(self, digest: Digest) -> int | None:
        try:
            return int(obs.head(self.obstore, BLOBS + blob_key(digest))["size"])
        except FileNotFoundError:
            return None
        except (BaseError, OSError) as exc:
            _fail("stat of a blob", exc)

    def open_read(self, digest: Digest) -> _S3Reader:
        return _S3Reader(self, BLOBS + blob_key(digest))

    def delete(self, digest: Digest) -> bool:
        if self.stat(digest) is None:
            return False
        try:
            obs.delete(self.obstore, BLOBS + blob_key(digest))
        except (BaseError, OSError) as exc:
            _fail("deleting a blob", exc)
        return True

    def iter_blobs(self) -> Iterator[tuple[Digest, int]]:
        for digest, size, _ in self.iter_blob_times():
            yield digest, size

    def iter_blob_times(self) -> Iterator[tuple[Digest, int, datetime]]:
        """Every blob with its size and last modification time (``BlobTimes``)."""
        try:
            for batch in obs.list(self.obstore, BLOBS + "sha256/", chunk_size=1000):
                for meta in batch:
                    path = str(meta["path"])  # relative to the store's prefix
                    relative = path[len(BLOBS) :] if path.startswith(BLOBS) else ""
                    try:
                        digest = digest_from_key(relative)
                    except ValidationError:
                        continue
                    modified = meta["last_modified"]
                    if modified.tzinfo is None:
                        modified = modified.replace(tzinfo=UTC)
                    yield digest, int(meta["size"]), modified
        except (BaseError, OSError) as exc:
            _fail("listing blobs", exc)

    def blob_uri(self, digest: Digest) -> str:
        return f"s3://{self.location.bucket}/{self.location.key(BLOBS + blob_key(digest))}"

    def close(self) -> None:
        return None

    # -- writing ----------------------------------------------------------------------------

    def put_small(self, digest: Digest, data: bytes, *, replace: bool) -> bool:
        """One create-only PUT (atomic put-if-absent); ``replace`` overwrites damage."""
        try:
            obs.put(
                self.obstore,
                BLOBS + blob_key(digest),
                data,
                mode="overwrite" if replace else "create",
                use_multipart=False,
            )
        except (AlreadyExistsError, PreconditionError):
            if self.stat(digest) == len(data):
                return False
            return self.put_small(digest, data, replace=True)  # wrong size: damage
        except (BaseError, OSError) as exc:
            _fail("storing a blob", exc)
        return True

    def publish(self, temp: str, digest: Digest) -> bool:
        """Copy a finished temporary object to the digest key unless one is there."""
        try:
            obs.copy(self.obstore, temp, BLOBS + blob_key(digest), overwrite=False)
        except (AlreadyExistsError, PreconditionError):
            return False
        except (BaseError, OSError) as exc:
            _fail("publishing a blob", exc)
        return True

    def put_verified(
        self,
        source: BinaryIO,
        digest: Digest,
        size: int,
        *,
        on_progress: Callable[[int], None] | None = None,
    ) -> bool:
        existing = self.stat(digest)
        if existing == size:
            return False
        part = max(self.location.part_size, -(-size // MAX_PARTS))
        hasher = hashlib.sha256()
        total = 0

        def changed() -> ConflictError:
            return ConflictError(
                f"the file changed while it was uploaded ({total} bytes read, {size} "
                f"expected, digest {digest}); nothing was stored, save it again"
            )

        if size <= part:
            buffer = bytearray()
            while len(buffer) <= size and (piece := source.read(size + 1 - len(buffer))):
                buffer += piece
            data = bytes(buffer)
            total = len(data)
            hasher.update(data)
            if total != size or hasher.hexdigest() != digest.hexdigest:
                raise changed()
            stored = self.put_small(digest, data, replace=existing is not None)
            if on_progress is not None:
                on_progress(total)
            return stored

        def chunks() -> Iterator[bytes]:
            nonlocal total
            while total < size:
                chunk = source.read(min(part, size - total))
                if not chunk:
                    break
                hasher.update(chunk)
                total += len(chunk)
                if on_progress is not None:
                    on_progress(total)
                yield chunk
            # Raising here, before the iterator ends, makes obstore abort the upload:
            # Complete is never sent, so the digest key never holds the wrong bytes.
            if total != size or source.read(1) or hasher.hexdigest() != digest.hexdigest:
                raise changed()

        try:
            obs.put(
                self.obstore,
                BLOBS + blob_key(digest),
                chunks(),
                use_multipart=True,
                chunk_size=part,
                max_concurrency=self.location.concurrency,
            )
        except ConflictError:
            raise
        except (BaseError, OSError, RuntimeError) as exc:
            _fail("uploading a blob", exc)
        return True

    # -- garbage ----------------------------------------------------------------------------

    def iter_garbage(self, *, older_than: timedelta) -> Iterator[GarbageItem]:
        """Temporary objects and incomplete multipart uploads started before the grace.

        Incomplete uploads are listed only with static credentials (``_s3api``).
        """
        cutoff = datetime.now(UTC) - older_than
        try:
            for batch in obs.list(self.obstore, TMP, chunk_size=1000):
                for meta in batch:
                    modified = meta["last_modified"]
                    if modified.tzinfo is None:
                        modified = modified.replace(tzinfo=UTC)
                    path = str(meta["path"])
                    if modified <= cutoff and path.startswith(TMP):
                        yield GarbageItem(
                            kind="temp_object",
                            key=path,
                            created_at=modified,
                            size=int(meta["size"]),
                        )
        except (BaseError, OSError) as exc:
            _fail("listing temporary objects", exc)
        if self._api is None:
            return
        base = self.location.key("")
        for upload in self._api.list_multipart_uploads(base):
            relative = upload.key[len(base) :]
            if not relative.startswith((BLOBS, TMP)) or upload.initiated > cutoff:
                continue
            yield GarbageItem(
                kind="multipart_upload",
                key=relative,
                created_at=upload.initiated,
                upload_id=upload.upload_id,
            )

    def remove_garbage(self, item: GarbageItem) -> bool:
        """Delete a temporary object or abort an incomplete upload."""
        if not item.key.startswith((BLOBS, TMP)):
            raise ValidationError(f"not a leftover of this store: {item.key!r}")
        if item.kind == "multipart_upload":
            if self._api is None or item.upload_id is None:
                raise StorageError("aborting uploads needs static S3 credentials")
            key = self.location.key(item.key)
            # Some servers (SeaweedFS) answer an abort of an unknown upload with success.
            if not any(
                u.upload_id == item.upload_id for u in self._api.list_multipart_uploads(key)
            ):
                return False
            try:
                self._api.abort_multipart_upload(key, item.upload_id)
            except StorageError as exc:
                if "NoSuchUpload" in str(exc):
                    return False
                raise
            return True
        if item.kind != "temp_object" or not item.key.startswith(TMP):
            raise ValidationError(f"not a temporary object: {item.key!r}")
        try:
            obs.head(self.obstore, item.key)
            obs.delete(self.obstore, item.key)
        except FileNotFoundError:
            return False
        except (BaseError, OSError) as exc:
            _fail("removing a temporary object", exc)
        return True

    def create_bucket(self) -> None:
        """Create the bucket (for tests and first setup); needs static credentials."""
        if self._api is None:
            raise StorageError("creating a bucket needs static S3 credentials")
        self._api.create_bucket()

    # -- signing ----------------------------------------------------------------------------

    def presign_get(
        self,
        digest: Digest,
        expires: timedelta,
        *,
        disposition: str | None = None,
        content_type: str | None = None,
    ) -> str:
        relative = BLOBS + blob_key(digest)
        if self._api is not None:
            # Signed here, with the response headers in the signed query: obstore's
            # signer takes no query parameters.
            query = {}
            if disposition is not None:
                query["response-content-disposition"] = disposition
            if content_type is not None:
                query["response-content-type"] = content_type
            return self._api.presign("GET", self.location.key(relative), expires, query)
        try:
            return obs.sign(self.obstore, "GET", relative, expires)
        except (BaseError, OSError) as exc:
            _fail("signing a download", exc)

    def presign_put(self, expires: timedelta) -> SignedUpload:
        token = new_id()
        try:
            url = obs.sign(self.obstore, "PUT", TMP + token, expires)
        except (BaseError, OSError) as exc:
            _fail("signing an upload", exc)
        return SignedUpload(url=url, token=token, expires_at=datetime.now(UTC) + expires)

    def adopt_upload(self, token: str, digest: Digest) -> bool:
        if not _TOKEN.fullmatch(token):
            raise ValidationError(f"not an upload token: {token!r}")
        return self.publish_verified(TMP + token, digest)

    def publish_verified(self, temp: str, digest: Digest) -> bool:
        """Read a temporary object back, hashing it; publish it under ``digest`` if they
        match (``IntegrityError`` if not); the temporary object is removed either way."""
        hasher = hashlib.sha256()
        reader = _S3Reader(self, temp)
        buffer = bytearray(self.location.part_size)
        try:
            with reader:
                while n := reader.readinto(buffer):
                    hasher.update(memoryview(buffer)[:n])
            if hasher.hexdigest() != digest.hexdigest:
                raise IntegrityError(
                    f"the uploaded bytes hash to sha256:{hasher.hexdigest()}, not {digest}"
                )
            return self.publish(temp, digest)
        finally:
            with contextlib.suppress(BaseError, OSError):
                obs.delete(self.obstore, temp)

    # -- multipart uploads by URL (the PartSigner ability, ``s3_parts``) ------------------

    @property
    def signs_parts(self) -> bool:
        return self._parts.signs_parts

    @property
    def min_part_size(self) -> int:
        return MIN_PART_SIZE

    def start_parts(self) -> PartUpload:
        return self._parts.start()

    def presign_part(self, upload: PartUpload, number: int, expires: timedelta) -> str:
        return self._parts.presign(upload, number, expires)

    def list_parts(self, upload: PartUpload) -> list[UploadedPart]:
        return self._parts.list(upload)

    def complete_parts(
        self, upload: PartUpload, digest: Digest, *, size: int, part_size: int
    ) -> bool:
        return self._parts.complete(upload, digest, size=size, part_size=part_size)

    def abort_parts(self, upload: PartUpload) -> None:
        self._parts.abort(upload)
