"""Validation of everything a caller sends: names, file keys, labels, metrics, tags.

Input is data, never a path: names never become storage keys, and a file key inside an
artifact can never name anything outside the directory it is materialised into. Every
refusal names the offending character and its position.
"""

from __future__ import annotations

import math
import mimetypes
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import timedelta
from functools import lru_cache
from typing import Any, Final

from satchel.errors import (
    InvalidFileKeyError,
    InvalidMetadataError,
    InvalidNameError,
    ValidationError,
)

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_LABEL_VALUE_BYTES",
    "MAX_NAME_BYTES",
    "guess_mime",
    "guess_text_mime",
    "validate_duration",
    "validate_file_key",
    "validate_labels",
    "validate_limit",
    "validate_metrics",
    "validate_name",
    "validate_tags",
    "validate_token",
]

MAX_NAME_BYTES: Final = 255
_DURATION = re.compile(r"([1-9][0-9]{0,6})([smhdw])")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_SEGMENT_BYTES: Final = 255
MAX_KEY_BYTES: Final = 4096
MAX_LABEL_VALUE_BYTES: Final = 4096
MAX_LABELS: Final = 256
MAX_METRICS: Final = 256
MAX_TAGS: Final = 256
#: A result limit past any store's size: larger limits mean this one (SQL integers are
#: 64-bit, so ``10**30`` must never reach a query).
MAX_LIMIT: Final = 2**31 - 1


def _describe(char: str) -> str:
    name = unicodedata.name(char, None)
    code = f"U+{ord(char):04X}"
    return f"{code} ({name})" if name else code


def _check_printable(text: str, *, what: str, error: type[ValidationError]) -> None:
    for position, char in enumerate(text):
        if not char.isprintable():
            raise error(
                f"{what} contains the non-printable character {_describe(char)} "
                f"at position {position}: {text!r}"
            )


def _check_encodable(text: str, *, what: str, error: type[ValidationError]) -> None:
    """Refuse what UTF-8 cannot encode (a lone surrogate): no index could store it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise error(
            f"{what} contains the lone surrogate {_describe(text[exc.start])} "
            f"at position {exc.start}: {text!r}"
        ) from exc


def _check_bytes(text: str, limit: int, *, what: str, error: type[ValidationError]) -> None:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise error(f"{what} is {size} bytes in UTF-8; at most {limit} are allowed")


def validate_name(name: str) -> str:
    """An artifact name: printable Unicode, NFC-normalised, 1 to 255 bytes of UTF-8."""
    if not isinstance(name, str):
        raise InvalidNameError(f"an artifact name must be a string, not {type(name).__name__}")
    _check_printable(name, what="artifact name", error=InvalidNameError)
    name = unicodedata.normalize("NFC", name)
    if not name.strip():
        raise InvalidNameError("an artifact name must not be empty or blank")
    _check_bytes(name, MAX_NAME_BYTES, what="artifact name", error=InvalidNameError)
    return name


def validate_file_key(key: str) -> str:
    """A file key inside an artifact: ``/``-separated, relative, no escape, printable.

    Refused: a leading ``/``, empty, ``.`` or ``..`` segments, backslashes, NUL and other
    control or non-printable characters, a segment over 255 bytes, a key over 4096 bytes.
    The key is returned unchanged (not normalised) so a directory comes back byte-identical.
    """
    if not isinstance(key, str):
        raise InvalidFileKeyError(f"a file key must be a string, not {type(key).__name__}")
    if not key:
        raise InvalidFileKeyError("a file key must not be empty")
    for position, char in enumerate(key):
        if char == "\\":
            raise InvalidFileKeyError(
                f"file key contains a backslash at position {position}: {key!r}"
            )
        if not char.isprintable():
            raise InvalidFileKeyError(
                f"file key contains the non-printable character {_describe(char)} "
                f"at position {position}: {key!r}"
            )
    if key.startswith("/"):
        raise InvalidFileKeyError(f"file key must be relative, not start with '/': {key!r}")
    _check_bytes(key, MAX_KEY_BYTES, what="file key", error=InvalidFileKeyError)
    position = 0
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            shown = segment or "an empty segment"
            raise InvalidFileKeyError(
                f"file key has {shown!s} at position {position}; "
                f"segments must not be empty, '.' or '..': {key!r}"
            )
        _check_bytes(
            segment,
            MAX_SEGMENT_BYTES,
            what=f"file key segment {segment[:40]!r}",
            error=InvalidFileKeyError,
        )
        position += len(segment) + 1
    return key


def validate_token(value: str, *, what: str, limit: int = 255) -> str:
    """A short identifier-like string (kind, tag, label key, metric name, context ids)."""
    if not isinstance(value, str):
        raise InvalidMetadataError(f"{what} must be a string, not {type(value).__name__}")
    if not value:
        raise InvalidMetadataError(f"{what} must not be empty")
    _check_printable(value, what=what, error=InvalidMetadataError)
    _check_bytes(value, limit, what=what, error=InvalidMetadataError)
    return value


def validate_labels(labels: Mapping[str, Any] | None) -> dict[str, Any]:
    """Labels: printable keys; values are strings, finite numbers or booleans."""
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise InvalidMetadataError(f"labels must be a mapping, not {type(labels).__name__}")
    if len(labels) > MAX_LABELS:
        raise InvalidMetadataError(f"{len(labels)} labels; at most {MAX_LABELS} are allowed")
    out: dict[str, Any] = {}
    for key, value in labels.items():
        validate_token(key, what="label key")
        if isinstance(value, bool):
            out[key] = value
        elif isinstance(value, int):
            if abs(value) > 2**63 - 1:
                raise InvalidMetadataError(f"label {key!r}: integer {value} is out of range")
            out[key] = value
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidMetadataError(f"label {key!r}: {value!r} is not a finite number")
            out[key] = value
        elif isinstance(value, str):
            _check_bytes(
                value, MAX_LABEL_VALUE_BYTES, what=f"label {key!r}", error=InvalidMetadataError
            )
            if "\x00" in value:
                raise InvalidMetadataError(f"label {key!r} contains NUL")
            _check_encodable(value, what=f"label {key!r}", error=InvalidMetadataError)
            out[key] = value
        else:
            raise InvalidMetadataError(
                f"label {key!r}: values must be a string, a finite number or a boolean, "
                f"not {type(value).__name__}"
            )
    return out


def validate_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """Metrics: printable names; values are finite numbers (booleans are refused)."""
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise InvalidMetadataError(f"metrics must be a mapping, not {type(metrics).__name__}")
    if len(metrics) > MAX_METRICS:
        raise InvalidMetadataError(f"{len(metrics)} metrics; at most {MAX_METRICS} are allowed")
    out: dict[str, float] = {}
    for key, value in metrics.items():
        validate_token(key, what="metric name")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidMetadataError(f"metric {key!r}: {value!r} is not a number")
        try:
            number = float(value)
        except OverflowError as exc:
            raise InvalidMetadataError(f"metric {key!r}: {value!r} is not a finite number") from exc
        if not math.isfinite(number):
            raise InvalidMetadataError(f"metric {key!r}: {value!r} is not a finite number")
        out[key] = number
    return out


def validate_limit(limit: object) -> int:
    """A result limit: a non-negative integer; one past ``MAX_LIMIT`` means ``MAX_LIMIT``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValidationError(f"limit must be a non-negative integer, got {limit!r}")
    return min(limit, MAX_LIMIT)


def validate_search_text(text: str, *, what: str = "query") -> str:
    """Search text: any string without NUL or lone surrogates (no index can hold them)."""
    if "\x00" in text:
        raise ValidationError(f"{what} contains NUL at position {text.index(chr(0))}")
    _check_encodable(text, what=what, error=ValidationError)
    return text


def validate_tags(tags: Iterable[str] | None) -> list[str]:
    """Tags: a set of printable strings, returned sorted and without duplicates."""
    if tags is None:
        return []
    if isinstance(tags, str):
        raise InvalidMetadataError("tags must be a list of strings, not one string")
    out = sorted({validate_token(tag, what="tag") for tag in tags})
    if len(out) > MAX_TAGS:
        raise InvalidMetadataError(f"{len(out)} tags; at most {MAX_TAGS} are allowed")
    return out


def validate_extension(ext: str) -> str:
    """A file extension for staging: ``""`` or ``.`` followed by a safe name part."""
    if not ext:
        return ""
    if not ext.startswith("."):
        ext = "." + ext
    if "/" in ext or "\\" in ext or ext in (".", ".."):
        raise ValidationError(f"not a file extension: {ext!r}")
    _check_printable(ext, what="extension", error=ValidationError)
    _check_bytes(ext, 64, what="extension", error=ValidationError)
    return ext


_EXTRA_MIME: Final = {
    ".log": "text/plain",
    ".jsonl": "application/jsonl",
    ".ndjson": "application/x-ndjson",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".toml": "application/toml",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".parquet": "application/vnd.apache.parquet",
    ".npy": "application/octet-stream",
    ".safetensors": "application/octet-stream",
}


def guess_mime(name: str | None, default: str = "application/octet-stream") -> str:
    """MIME type from a file name's extension (with common ML formats added)."""
    if name:
        dot = name.rfind(".")
        if dot > name.rfind("/"):
            return _mime_for_extension(name[dot:].lower()) or default
    return default


@lru_cache(maxsize=1024)
def _mime_for_extension(ext: str) -> str | None:
    if ext in _EXTRA_MIME:
        return _EXTRA_MIME[ext]
    mime, _ = mimetypes.guess_type("file" + ext, strict=False)
    return mime


_TEXT_APPLICATION: Final = frozenset(
    {
        "application/json",
        "application/jsonl",
        "application/x-ndjson",
        "application/yaml",
        "application/toml",
        "application/xml",
        "application/javascript",
    }
)


def guess_text_mime(name: str | None) -> str:
    """MIME type for saved text: a textual type the name implies, else ``text/plain``."""
    mime = guess_mime(name.rstrip("/").rsplit("/", 1)[-1] if name else None, default="")
    if mime.startswith("text/") or mime in _TEXT_APPLICATION or mime.endswith(("+json", "+xml")):
        return mime
    return "text/plain"


def validate_duration(text: str, *, what: str) -> timedelta:
    """A span like ``30s``, ``15m``, ``2h``, ``7d`` or ``4w`` (a positive count and a unit)."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValidationError(
            f"{what} must be a positive count and a unit s, m, h, d or w "
            f"(e.g. '30s', '15m', '2h', '7d', '4w'), not {text!r}"
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
