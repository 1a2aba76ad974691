"""A remote ``writer()``'s bytes: in memory while small, then in a local temporary file.

The API needs a file's SHA-256 and size before its bytes (the create request lists them),
so a writer's stream is spooled, hashed as it is written, and uploaded when the ``with``
block ends. Memory stays at ``memory_max`` bytes whatever the stream's length; the spool
file lives in the context's staging directory and is removed in every outcome.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from io import FileIO
from pathlib import Path
from typing import Final

from satchel.client._upload import Upload
from satchel.errors import StorageError
from satchel.facade._shared import SaveSpec
from satchel.hashing import HashingSink
from satchel.models import Artifact, new_id

__all__ = ["MEMORY_MAX", "SpoolSink"]

#: Bytes a writer keeps in memory before it spools to a file (whether they then travel
#: inline or in chunks is the uploader's choice, by the server's limits).
MEMORY_MAX: Final = 1024 * 1024

#: Saves the files of one artifact: ``(spec, uploads, mime)`` -> the saved artifact.
SaveUploads = Callable[[SaveSpec, Sequence[Upload], str], Artifact]
KeyOf = Callable[[SaveSpec, str], tuple[str, str]]


class SpoolSink:
    """Bytes of one remote ``writer()``, saved as a file artifact on ``commit``."""

    def __init__(
        self, *, staging_dir: Path, key_of: KeyOf, save: SaveUploads, memory_max: int = MEMORY_MAX
    ) -> None:
        self._staging_dir = staging_dir
        self._memory_max = memory_max
        self._key_of = key_of
        self._save = save
        self._buffer: bytearray | None = bytearray()
        self._path: Path | None = None
        self._file: FileIO | None = None
        self._hashing = HashingSink()

    @property
    def size(self) -> int:
        return self._hashing.size

    @property
    def memory_max(self) -> int:
        return self._memory_max

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        self._hashing.write(view)
        try:
            if self._file is not None:
                self._file.write(view)
                return
            assert self._buffer is not None
            self._buffer += view
            if len(self._buffer) > self._memory_max:
                self._path = self._staging_dir / f".{new_id()}.spool"
                self._file = FileIO(self._path, "wb")
                buffered, self._buffer = self._buffer, None
                self._file.write(buffered)
        except OSError as exc:
            raise StorageError(f"cannot spool the writer's bytes: {exc}", exc.errno) from exc

    def commit(self, spec: SaveSpec, *, fallback_key: str) -> Artifact:
        key, mime = self._key_of(spec, fallback_key)
        digest = self._hashing.digest().hexdigest
        try:
            if self._file is not None:
                self._file.close()
            upload = Upload(
                path=key,
                sha256=digest,
                size=self._hashing.size,
                mime=mime,
                data=None if self._buffer is None else bytes(self._buffer),
                source=self._path,
                follow_symlinks=False,
            )
            return self._save(spec, [upload], mime)
        finally:
            self.abort()

    def abort(self) -> None:
        self._buffer = None
        if self._file is not None:
            self._file.close()
        if self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()
