"""Choose a blob store by URL; backends are imported only when used."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from satchel.errors import ConfigError
from satchel.storage.base import BlobStore

__all__ = ["local_root_of", "open_blob_store"]


def local_root_of(url: str) -> Path | None:
    """The directory of a ``file://`` URL or plain path; None for other schemes."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ConfigError(f"file URL with a remote host is not supported: {url!r}")
        return Path(unquote(parts.path)).expanduser()
    if parts.scheme == "" or (len(parts.scheme) == 1 and url[1:3] in (":\\", ":/")):
        return Path(url).expanduser()
    return None


def open_blob_store(url: str) -> BlobStore:
    """Open ``file://`` (or a plain path), ``memory://NAME`` or ``s3://BUCKET/PREFIX?...``.

    ``s3://`` needs the ``s3`` extra (obstore); without it ``MissingDependencyError`` says
    what to install. See ``satchel.storage.s3_config`` for the URL's options.
    """
    root = local_root_of(url)
    if root is not None:
        from satchel.storage.local import LocalBlobStore  # noqa: PLC0415

        return LocalBlobStore(root)
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from satchel.storage.memory import MemoryBlobStore  # noqa: PLC0415

        return MemoryBlobStore.named(urlsplit(url).netloc)
    if scheme == "s3":
        from satchel.storage.s3 import S3BlobStore  # noqa: PLC0415

        return S3BlobStore(url)
    raise ConfigError(
        f"unsupported blob store URL {url!r}: use a directory path, file://, memory:// or s3://"
    )
