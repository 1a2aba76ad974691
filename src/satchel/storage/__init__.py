"""Blob stores behind one Protocol, chosen by URL and imported lazily."""

from __future__ import annotations

from satchel.storage.base import BlobReader, BlobSink, BlobStore, LocalBlobPaths
from satchel.storage.factory import open_blob_store

__all__ = ["BlobReader", "BlobSink", "BlobStore", "LocalBlobPaths", "open_blob_store"]
