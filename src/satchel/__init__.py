"""satchel: an artifact store for machine-learning work.

Embedded use (no server)::

    import satchel

    ctx = satchel.Context(store="~/.satchel", run_id="r1")
    arts = ctx.artifacts()
    a = await arts.save_text("Hello, world!", name="results.txt")

Remote, the same calls against a satchel server (the ``client`` extra)::

    ctx = satchel.Context(store="http://127.0.0.1:8765", token="sat_...", run_id="r1")
"""

from __future__ import annotations

from satchel.config import Settings
from satchel.context import Context
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
)
from satchel.facade import (
    ArtifactFacade,
    ArtifactWriter,
    SearchPage,
    SyncArtifactFacade,
    SyncArtifactWriter,
)
from satchel.models import Artifact, ArtifactFile, Occurrence, Run

__version__ = "0.1.0"

__all__ = [
    "Artifact",
    "ArtifactFacade",
    "ArtifactFile",
    "ArtifactIsDirectoryError",
    "ArtifactNotDirectoryError",
    "ArtifactWriter",
    "AuthenticationError",
    "BlobCollectedError",
    "BusyError",
    "ConfigError",
    "ConflictError",
    "Context",
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
    "Occurrence",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Run",
    "SatchelError",
    "SearchPage",
    "Settings",
    "StorageError",
    "SyncArtifactFacade",
    "SyncArtifactWriter",
    "UnsupportedEntryError",
    "ValidationError",
    "__version__",
]
