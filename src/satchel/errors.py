"""The one error tree of satchel.

Every error has a stable ``code`` (a short snake_case string) that the server answers in
``{"error": {"code", "message"}}`` and that the remote client maps back to the same class.
Each class also inherits the builtin exception that means the same thing, so callers that
catch ``FileNotFoundError`` or ``ValueError`` keep working::

    SatchelError
    ├── ValidationError (ValueError)                  validation_error
    │   ├── InvalidNameError                          invalid_name
    │   ├── InvalidFileKeyError                       invalid_file_key
    │   ├── InvalidMetadataError                      invalid_metadata
    │   ├── InvalidURIError                           invalid_uri
    │   ├── UnsupportedEntryError                     unsupported_entry
    │   └── PayloadTooLargeError                      too_large
    ├── ConfigError (ValueError)                      config_error
    ├── MissingDependencyError (ImportError)          missing_dependency
    ├── NotFoundError (FileNotFoundError)             not_found
    ├── AuthenticationError (PermissionError)         unauthenticated
    ├── PermissionDeniedError (PermissionError)       forbidden
    ├── ArtifactIsDirectoryError (IsADirectoryError)  is_a_directory
    ├── ArtifactNotDirectoryError (NotADirectoryError) not_a_directory
    ├── InvalidJSONError (json.JSONDecodeError)       invalid_json
    ├── ConflictError                                 conflict
    │   ├── BusyError                                 busy
    │   └── BlobCollectedError                        blob_collected
    ├── IntegrityError                                integrity_error
    ├── StorageError (OSError)                        storage_error
    │   └── InsufficientStorageError                  insufficient_storage
    ├── IndexBackendError                             index_error
    └── NetworkError (ConnectionError)                network_error
"""

from __future__ import annotations

import errno as _errno
import json
from typing import ClassVar

__all__ = [
    "ArtifactIsDirectoryError",
    "ArtifactNotDirectoryError",
    "AuthenticationError",
    "BlobCollectedError",
    "BusyError",
    "ConfigError",
    "ConflictError",
    "IndexBackendError",
    "InsufficientStorageError",
    "IntegrityError",
    "InvalidFileKeyError",
    "InvalidJSONError",
    "InvalidMetadataError",
    "InvalidNameError",
    "InvalidURIError",
    "MissingDependencyError",
    "NetworkError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "SatchelError",
    "StorageError",
    "UnsupportedEntryError",
    "ValidationError",
    "error_class_for_code",
]


class SatchelError(Exception):
    """Root of every error satchel raises on purpose."""

    code: ClassVar[str] = "satchel_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ValidationError(SatchelError, ValueError):
    """Input that satchel refuses: a bad name, key, label, metric, URI or argument."""

    code = "validation_error"


class InvalidNameError(ValidationError):
    """An artifact name that is not printable Unicode of at most 255 bytes."""

    code = "invalid_name"


class InvalidFileKeyError(ValidationError):
    """A file key inside an artifact that could escape or is not printable."""

    code = "invalid_file_key"


class InvalidMetadataError(ValidationError):
    """Labels, metrics or tags of the wrong type or shape (for example a NaN metric)."""

    code = "invalid_metadata"


class InvalidURIError(ValidationError):
    """A URI that satchel does not read: unknown scheme, outside the store, malformed."""

    code = "invalid_uri"


class UnsupportedEntryError(ValidationError):
    """A directory entry satchel refuses to ingest: FIFO, device, socket, escaping symlink."""

    code = "unsupported_entry"


class PayloadTooLargeError(ValidationError):
    """Input over a size limit: a request body, inline content, more bytes than declared."""

    code = "too_large"


class ConfigError(SatchelError, ValueError):
    """A setting or store/index URL that cannot be used."""

    code = "config_error"


class MissingDependencyError(SatchelError, ImportError):
    """An optional extra is needed; the message says which one to install."""

    code = "missing_dependency"


class NotFoundError(SatchelError, FileNotFoundError):
    """No artifact, file or blob by that id, path or URI (or none the caller may read)."""

    code = "not_found"


class AuthenticationError(SatchelError, PermissionError):
    """No valid credentials: an unknown, revoked or expired token, or a wrong password."""

    code = "unauthenticated"


class PermissionDeniedError(SatchelError, PermissionError):
    """The caller is known but may not do this (for example a member managing users).

    An artifact the caller may not read is never this but ``NotFoundError``: whether it
    exists is not the caller's to learn.
    """

    code = "forbidden"


class ArtifactIsDirectoryError(SatchelError, IsADirectoryError):
    """A file operation was asked of a directory artifact."""

    code = "is_a_directory"


class ArtifactNotDirectoryError(SatchelError, NotADirectoryError):
    """A directory operation was asked of a file artifact."""

    code = "not_a_directory"


class InvalidJSONError(SatchelError, json.JSONDecodeError):
    """An artifact loaded as JSON does not hold valid JSON."""

    code = "invalid_json"

    def __init__(self, message: str, doc: str = "", pos: int = 0) -> None:
        json.JSONDecodeError.__init__(self, message, doc, pos)
        self.message = f"{message}: line {self.lineno} column {self.colno} (char {pos})"

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[type[InvalidJSONError], tuple[str, str, int]]:
        return (type(self), (self.msg, self.doc, self.pos))


class ConflictError(SatchelError):
    """The operation conflicts with the current state (for example a duplicate)."""

    code = "conflict"


class BusyError(ConflictError):
    """Another request is working on the same thing right now (say, an upload of the same
    file); retrying shortly is the answer."""

    code = "busy"


class BlobCollectedError(ConflictError):
    """A blob this save found already stored was removed by a collection (``satchel gc``,
    or a delete of the last artifact using it) before the save committed: nothing was
    saved; saving again stores the bytes anew. ``digests`` names the blobs."""

    code = "blob_collected"

    def __init__(self, message: str, *, digests: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.digests = digests

    def __reduce__(self) -> tuple[object, ...]:
        return (_blob_collected, (str(self), self.digests))


def _blob_collected(message: str, digests: tuple[str, ...]) -> BlobCollectedError:
    return BlobCollectedError(message, digests=digests)


class IntegrityError(SatchelError):
    """Stored bytes do not match their recorded SHA-256 or size; no bytes are returned."""

    code = "integrity_error"


#: The errnos of a full disk or quota: a ``StorageError`` made with one is an
#: ``InsufficientStorageError`` (as ``OSError(ENOENT, ...)`` is a ``FileNotFoundError``).
_NO_SPACE = frozenset({_errno.ENOSPC, _errno.EDQUOT})


class StorageError(SatchelError, OSError):
    """The blob store failed (disk full, I/O error, failed fsync); ``errno`` is kept.

    Made with the errno of a full disk (``ENOSPC``, ``EDQUOT``) it is an
    ``InsufficientStorageError``.
    """

    code = "storage_error"

    def __new__(cls, message: str, errno: int | None = None) -> StorageError:
        target: type[StorageError] = cls
        if cls is StorageError and errno in _NO_SPACE:
            target = InsufficientStorageError
        if errno is None and issubclass(target, InsufficientStorageError):
            errno = _errno.ENOSPC
        if errno is None:
            return OSError.__new__(target, message)
        return OSError.__new__(target, errno, message)

    def __init__(self, message: str, errno: int | None = None) -> None:
        if errno is None:
            OSError.__init__(self, message)
        else:
            OSError.__init__(self, errno, message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[type[StorageError], tuple[str, int | None]]:
        return (type(self), (self.message, self.errno))


class InsufficientStorageError(StorageError):
    """No room left where bytes are stored (a full disk or quota: ``ENOSPC``): nothing
    was saved; free space and save again. The server answers 507."""

    code = "insufficient_storage"


class IndexBackendError(SatchelError):
    """The metadata index failed (database unreachable, schema too new, corrupt)."""

    code = "index_error"


class NetworkError(SatchelError, ConnectionError):
    """A satchel server could not be reached or stopped answering (the remote SDK).

    Raised after the client's retries: the server is down, the connection kept dropping,
    or a proxy in between answered instead of the server. Safe to retry: saves resume.
    """

    code = "network_error"


def _all_subclasses(cls: type[SatchelError]) -> list[type[SatchelError]]:
    found: list[type[SatchelError]] = [cls]
    for sub in cls.__subclasses__():
        found.extend(_all_subclasses(sub))
    return found


def error_class_for_code(code: str) -> type[SatchelError]:
    """Map a stable error code back to its class (``SatchelError`` when unknown)."""
    for cls in _all_subclasses(SatchelError):
        if cls.code == code:
            return cls
    return SatchelError
