"""The error tree: stable codes, builtin parents, and pickling across processes."""

from __future__ import annotations

import concurrent.futures
import errno
import json
import multiprocessing
import pickle
import re

import pytest

import satchel.errors
from satchel.errors import (
    ArtifactIsDirectoryError,
    ArtifactNotDirectoryError,
    AuthenticationError,
    BlobCollectedError,
    BusyError,
    ConfigError,
    ConflictError,
    IndexBackendError,
    InsufficientStorageError,
    IntegrityError,
    InvalidFileKeyError,
    InvalidJSONError,
    InvalidMetadataError,
    InvalidNameError,
    InvalidURIError,
    MissingDependencyError,
    NetworkError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    SatchelError,
    StorageError,
    UnsupportedEntryError,
    ValidationError,
    error_class_for_code,
)


def all_error_classes() -> list[type[SatchelError]]:
    found: list[type[SatchelError]] = []
    pending: list[type[SatchelError]] = [SatchelError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


ERROR_CLASSES = all_error_classes()

#: The published codes. Clients and the server rely on them: changing one is a breaking change.
STABLE_CODES: dict[type[SatchelError], str] = {
    SatchelError: "satchel_error",
    ValidationError: "validation_error",
    InvalidNameError: "invalid_name",
    InvalidFileKeyError: "invalid_file_key",
    InvalidMetadataError: "invalid_metadata",
    InvalidURIError: "invalid_uri",
    UnsupportedEntryError: "unsupported_entry",
    PayloadTooLargeError: "too_large",
    ConfigError: "config_error",
    MissingDependencyError: "missing_dependency",
    NotFoundError: "not_found",
    AuthenticationError: "unauthenticated",
    PermissionDeniedError: "forbidden",
    ArtifactIsDirectoryError: "is_a_directory",
    ArtifactNotDirectoryError: "not_a_directory",
    InvalidJSONError: "invalid_json",
    ConflictError: "conflict",
    BusyError: "busy",
    BlobCollectedError: "blob_collected",
    IntegrityError: "integrity_error",
    StorageError: "storage_error",
    InsufficientStorageError: "insufficient_storage",
    IndexBackendError: "index_error",
    NetworkError: "network_error",
}


def test_codes_are_pinned() -> None:
    satchel_classes = {c for c in ERROR_CLASSES if c.__module__ == "satchel.errors"}
    assert satchel_classes == set(STABLE_CODES)
    for cls, code in STABLE_CODES.items():
        assert cls.code == code, cls


def test_every_error_has_its_own_code() -> None:
    codes = [cls.code for cls in ERROR_CLASSES]
    assert len(codes) == len(set(codes)), sorted(codes)
    for cls in ERROR_CLASSES:
        assert "code" in vars(cls), f"{cls.__name__} inherits its parent's code"
        assert re.fullmatch(r"[a-z][a-z0-9_]*", cls.code), cls.code


def test_codes_are_drawn_in_the_module_docstring() -> None:
    doc = satchel.errors.__doc__ or ""
    for cls in ERROR_CLASSES:
        if cls is SatchelError:
            continue  # the root of the drawing
        assert re.search(rf"\b{cls.__name__}\b.*\b{cls.code}\b", doc), cls.__name__


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_error_class_for_code_round_trip(cls: type[SatchelError]) -> None:
    assert error_class_for_code(cls.code) is cls


@pytest.mark.parametrize("code", ["", "nope", "NOT_FOUND", "not_found ", "ValueError"])
def test_unknown_code_maps_to_root(code: str) -> None:
    assert error_class_for_code(code) is SatchelError


def test_builtin_parents() -> None:
    assert issubclass(NotFoundError, FileNotFoundError)
    assert issubclass(NotFoundError, OSError)
    assert issubclass(ValidationError, ValueError)
    for sub in (
        InvalidNameError,
        InvalidFileKeyError,
        InvalidMetadataError,
        InvalidURIError,
        UnsupportedEntryError,
        PayloadTooLargeError,
    ):
        assert issubclass(sub, ValidationError)
        assert issubclass(sub, ValueError)
    assert issubclass(ConfigError, ValueError)
    assert issubclass(MissingDependencyError, ImportError)
    assert issubclass(ArtifactIsDirectoryError, IsADirectoryError)
    assert issubclass(ArtifactNotDirectoryError, NotADirectoryError)
    assert issubclass(InvalidJSONError, json.JSONDecodeError)
    assert issubclass(InvalidJSONError, ValueError)
    assert issubclass(StorageError, OSError)
    assert issubclass(AuthenticationError, PermissionError)
    assert issubclass(PermissionDeniedError, PermissionError)
    assert not issubclass(PermissionDeniedError, AuthenticationError)
    assert issubclass(NetworkError, ConnectionError)
    assert issubclass(NetworkError, OSError)
    for cls in ERROR_CLASSES:
        assert issubclass(cls, SatchelError)
        assert issubclass(cls, Exception)


def test_builtin_catch_works() -> None:
    with pytest.raises(FileNotFoundError):
        raise NotFoundError("no artifact a1")
    with pytest.raises(ValueError, match="bad name"):
        raise InvalidNameError("bad name")
    with pytest.raises(json.JSONDecodeError):
        raise InvalidJSONError("Expecting value", "{", 1)


def test_storage_error_keeps_errno() -> None:
    full = StorageError("writing a blob failed: No space left on device", errno.ENOSPC)
    assert full.errno == errno.ENOSPC
    assert str(full) == "writing a blob failed: No space left on device"
    assert full.message == str(full)
    plain = StorageError("blob sink is closed")
    assert plain.errno is None
    assert str(plain) == "blob sink is closed"


def test_a_full_disk_is_insufficient_storage() -> None:
    """Like ``OSError(ENOENT, ...)`` is a ``FileNotFoundError``: the errno picks the class."""
    for err in (errno.ENOSPC, errno.EDQUOT):
        full = StorageError("writing a blob failed: No space left on device", err)
        assert type(full) is InsufficientStorageError
        assert full.errno == err
        assert full.code == "insufficient_storage"
    assert type(StorageError("fsync failed", errno.EIO)) is StorageError
    # Made from its code alone (the remote client), it still says why.
    assert InsufficientStorageError("the disk is full").errno == errno.ENOSPC


def test_invalid_json_error_positions() -> None:
    err = InvalidJSONError("Expecting value", '{"a":\n  x}', 8)
    assert (err.msg, err.pos, err.lineno, err.colno) == ("Expecting value", 8, 2, 3)
    assert str(err) == "Expecting value: line 2 column 3 (char 8)"


def instances() -> list[SatchelError]:
    made: list[SatchelError] = []
    for cls in ERROR_CLASSES:
        if issubclass(cls, InvalidJSONError):
            made.append(cls("Expecting value", "[1, 2,\n oops]", 9))
        elif issubclass(cls, StorageError):
            made.append(cls(f"{cls.__name__}: disk full", errno.ENOSPC))
            made.append(cls(f"{cls.__name__}: closed"))
        else:
            made.append(cls(f"{cls.__name__}: something went wrong ünïcode"))
    return made


@pytest.mark.parametrize("error", instances(), ids=lambda e: f"{type(e).__name__}-{e}")
def test_errors_pickle(error: SatchelError) -> None:
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(error, protocol=protocol))
        assert type(back) is type(error)
        assert str(back) == str(error)
        assert back.message == error.message
        assert back.code == error.code
        assert back.args == error.args
        if isinstance(error, OSError):
            assert isinstance(back, OSError)
            assert back.errno == error.errno
        if isinstance(error, InvalidJSONError):
            assert isinstance(back, InvalidJSONError)
            assert (back.msg, back.doc, back.pos, back.lineno, back.colno) == (
                error.msg,
                error.doc,
                error.pos,
                error.lineno,
                error.colno,
            )


def test_error_raised_in_a_worker_process_arrives_whole() -> None:
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        future = pool.submit(_raise_storage_error)
        with pytest.raises(StorageError) as info:
            future.result(timeout=60)
    assert info.value.errno == errno.EIO
    assert str(info.value) == "reading a blob failed: Input/output error"


def _raise_storage_error() -> None:
    raise StorageError("reading a blob failed: Input/output error", errno.EIO)
