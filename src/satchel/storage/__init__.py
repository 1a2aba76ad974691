"""Blob stores behind one Protocol, chosen by URL and imported lazily."""

from __future__ import annotations

from satchel.storage.base import (
    BlobGarbage,
    BlobReader,
    BlobSigner,
    BlobSink,
    BlobStore,
    BlobTimes,
    DigestFirstUpload,
    FileAdoption,
    GarbageItem,
    LocalBlobPaths,
    PartSigner,
    PartUpload,
    SignedUpload,
    UploadedPart,
)
from satchel.storage.factory import open_blob_store

__all__ = [
    "BlobGarbage",
    "BlobReader",
    "BlobSigner",
    "BlobSink",
    "BlobStore",
    "BlobTimes",
    "DigestFirstUpload",
    "FileAdoption",
    "GarbageItem",
    "LocalBlobPaths",
    "PartSigner",
    "PartUpload",
    "SignedUpload",
    "UploadedPart",
    "open_blob_store",
]
