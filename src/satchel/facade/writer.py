"""Streaming writers: bytes go straight to the core's sink; the artifact is saved on close.

An exception inside the ``with`` block discards everything written and saves nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from satchel.errors import InvalidMetadataError, StorageError
from satchel.facade.base import ByteSink, FacadeBackend
from satchel.models import Artifact
from satchel.validation import (
    validate_extension,
    validate_labels,
    validate_metrics,
    validate_tags,
)

__all__ = ["ArtifactWriter", "SyncArtifactWriter"]


class _WriterBase:
    def __init__(
        self,
        core: FacadeBackend,
        *,
        kind: str,
        planned_ext: str | None,
        pin: bool,
        name: str | None,
        labels: Mapping[str, Any] | None,
        metrics: Mapping[str, Any] | None,
        tags: Iterable[str] | None,
        mime: str | None,
    ) -> None:
        self._core = core
        self._ext = validate_extension(planned_ext or "")
        # Validate up front so a bad argument fails before any byte is written.
        self._spec_args: dict[str, Any] = {"kind": kind, "name": name, "pin": pin, "mime": mime}
        core.spec(kind=kind, name=name, pin=pin, mime=mime, labels=labels)
        self._labels = validate_labels(labels)
        self._metrics = validate_metrics(metrics)
        self._tags = set(validate_tags(tags))
        self._blob: ByteSink = core.open_sink()
        self.artifact: Artifact | None = None
        self._closed = False

    @property
    def bytes_written(self) -> int:
        """How many bytes were written so far."""
        return self._blob.size

    def add_labels(self, labels: Mapping[str, Any]) -> None:
        """Attach labels; a ``"tags"`` entry holding a list of strings adds tags instead.

        A label that conflicts with the context's scope labels is refused here, before the
        rest of the stream is written.
        """
        labels = dict(labels)
        if "tags" in labels and not isinstance(labels["tags"], str | int | float | bool):
            self.add_tags(labels.pop("tags"))
        merged = {**self._labels, **validate_labels(labels)}
        self._core.spec(kind=self._spec_args["kind"], labels=merged)
        self._labels = merged

    def add_metrics(self, metrics: Mapping[str, Any]) -> None:
        """Record metrics (finite numbers)."""
        self._metrics.update(validate_metrics(metrics))

    def add_tags(self, tags: Iterable[str]) -> None:
        """Add tags."""
        if isinstance(tags, str):
            raise InvalidMetadataError("tags must be a list of strings, not one string")
        self._tags.update(validate_tags(tags))

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the writer is closed")

    def _finish(self) -> Artifact:
        self._closed = True
        try:
            spec = self._core.spec(
                labels=self._labels, metrics=self._metrics, tags=self._tags, **self._spec_args
            )
        except BaseException:
            self._blob.abort()
            raise
        self.artifact = self._blob.commit(
            spec, fallback_key=f"{spec.kind or 'artifact'}{self._ext}"
        )
        return self.artifact

    def _abort(self) -> None:
        self._closed = True
        self._blob.abort()


class SyncArtifactWriter(_WriterBase):
    """The writer of ``SyncArtifactFacade.writer()``."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes."""
        self._check_open()
        self._blob.write(data)


class ArtifactWriter(_WriterBase):
    """The writer of ``ArtifactFacade.writer()``: ``await w.write(data)``."""

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes (disk or network writes run on the core's I/O threads)."""
        self._check_open()
        if self._blob.size + len(data) <= self._blob.memory_max:
            self._blob.write(data)
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._core.executor, self._blob.write, data)
