"""What a URI given to ``load_*`` or ``as_local_*`` may name.

Accepted: ``satchel://<artifact_id>[/<file path>]``, ``file://`` URLs and plain local paths
(the caller's own files, or this store's blobs, which are then verified). Nothing else is
fetched: an ``http://`` or foreign ``s3://`` URL is refused, never downloaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from satchel.errors import InvalidURIError
from satchel.validation import validate_file_key

__all__ = ["ParsedURI", "artifact_uri", "parse_uri"]


@dataclass(frozen=True, slots=True)
class ParsedURI:
    """Either an artifact (and optionally one of its files) or a local path."""

    original: str
    artifact_id: str | None = None
    file_path: str | None = None
    local_path: Path | None = None


def artifact_uri(artifact_id: str, file_path: str | None = None) -> str:
    """``satchel://<artifact_id>[/<file path>]``, the path percent-encoded."""
    return f"satchel://{artifact_id}" + (f"/{quote(file_path, safe='/')}" if file_path else "")


def parse_uri(uri: str | os.PathLike[str]) -> ParsedURI:
    """Classify a URI; refuses schemes satchel does not read."""
    if isinstance(uri, os.PathLike):
        return ParsedURI(os.fspath(uri), local_path=Path(os.fspath(uri)))
    if not isinstance(uri, str) or not uri:
        raise InvalidURIError(f"not a URI or path: {uri!r}")
    if "\x00" in uri:
        raise InvalidURIError("a URI must not contain NUL")
    if uri[:10].lower() == "satchel://":
        # Split by hand: a file key may hold "?" or "#", which are not query or fragment here.
        artifact_id, _, raw_path = uri[10:].partition("/")
        if not artifact_id:
            raise InvalidURIError(f"satchel URI without an artifact id: {uri!r}")
        path = unquote(raw_path) if raw_path else None
        if path is not None:
            validate_file_key(path)
        return ParsedURI(uri, artifact_id=artifact_id, file_path=path)
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidURIError(f"file URI with a remote host: {uri!r}")
        return ParsedURI(uri, local_path=Path(unquote(parts.path)))
    if scheme == "" or len(scheme) == 1:
        return ParsedURI(uri, local_path=Path(uri))
    raise InvalidURIError(
        f"satchel does not fetch {scheme}:// URLs; give satchel://<artifact_id>, one of this "
        f"store's own URIs, or a local path"
    )
