"""Value types: Artifact, ArtifactFile, Run, Occurrence, and the time and id helpers.

Times are timezone-aware UTC ``datetime`` objects in Python and RFC 3339 with ``Z`` and
microseconds in JSON and in storage (fixed width, so text order is time order).
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Final, Literal

from satchel.errors import ValidationError

__all__ = [
    "DIRECTORY_MIME",
    "Artifact",
    "ArtifactFile",
    "ArtifactStatus",
    "FileStatus",
    "Occurrence",
    "Run",
    "RunStatus",
    "format_time",
    "new_id",
    "parse_time",
    "utcnow",
]

ArtifactStatus = Literal["pending", "completed", "failed"]
FileStatus = Literal["pending", "completed"]
RunStatus = Literal["running", "done", "crashed", "failed"]

DIRECTORY_MIME: Final = "inode/directory"


def utcnow() -> datetime:
    """Now, timezone-aware UTC, at microsecond precision."""
    return datetime.now(UTC)


def format_time(value: datetime) -> str:
    """RFC 3339 UTC with ``Z`` and six fractional digits; refuses naive datetimes."""
    if value.tzinfo is None:
        raise ValidationError("naive datetime: satchel times must be timezone-aware")
    value = value.astimezone(UTC)
    # Fixed width (strftime does not zero-pad years before 1000 on every libc).
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:"
        f"{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}Z"
    )


def parse_time(text: str) -> datetime:
    """Parse RFC 3339 (``Z`` or an offset) into an aware UTC datetime."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise ValidationError(f"not an RFC 3339 time: {text!r}") from exc
    if value.tzinfo is None:
        raise ValidationError(f"RFC 3339 time without a zone: {text!r}")
    return value.astimezone(UTC)


_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class _UlidFactory:
    """ULIDs (48-bit millisecond time, 80 random bits), monotonic within a process.

    The random part comes from a generator seeded from ``os.urandom`` once per process (and
    again in a forked child), not a system call per id: ids must be unique, not secret.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_rand = 0
        self._random = random.Random(os.urandom(32))
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(os.urandom(32))
        self._last_ms = -1

    def __call__(self) -> str:
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms <= self._last_ms:
                ms = self._last_ms
                self._last_rand += 1
                if self._last_rand >= 1 << 80:
                    ms += 1
                    self._last_rand = self._random.getrandbits(79)
            else:
                # Half the random space leaves room to count up within one millisecond.
                self._last_rand = self._random.getrandbits(79)
            self._last_ms = ms
            value = (ms << 80) | self._last_rand
        chars = []
        for _ in range(26):
            chars.append(_CROCKFORD[value & 31])
            value >>= 5
        return "".join(reversed(chars))


new_id: Final = _UlidFactory()


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactFile:
    """One file of an artifact: its key inside the artifact, digest, size and status."""

    path: str
    sha256: str
    bytes: int
    mime: str | None = None
    status: FileStatus = "completed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "mime": self.mime,
            "status": self.status,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArtifactFile:
        return cls(
            path=data["path"],
            sha256=data["sha256"],
            bytes=int(data["bytes"]),
            mime=data.get("mime", data.get("mimetype")),
            status=data.get("status", "completed"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Artifact:
    """An artifact: the fields of the AetherGraph schema plus name, status, files, model.

    ``artifact_id`` is a record id (a ULID), never the content hash: two saves of the same
    bytes are two artifacts that share one stored blob. For a directory artifact ``sha256``
    is the tree digest over its manifest (see ``satchel.hashing.tree_digest``) and ``files``
    lists every file; a file artifact has exactly one entry in ``files``.
    """

    artifact_id: str
    name: str | None = None
    kind: str | None = None
    status: ArtifactStatus = "completed"
    run_id: str | None = None
    graph_id: str | None = None
    node_id: str | None = None
    tool_name: str | None = None
    tool_version: str | None = None
    model_id: str | None = None
    model_version: str | None = None
    sha256: str | None = None
    bytes: int | None = None
    mime: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    tags: list[str] = field(default_factory=list)
    labels: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    pinned: bool = False
    uri: str | None = None
    preview_uri: str | None = None
    org_id: str | None = None
    user_id: str | None = None
    client_id: str | None = None
    app_id: str | None = None
    session_id: str | None = None
    files: list[ArtifactFile] = field(default_factory=list)

    @property
    def is_dir(self) -> bool:
        """True for a directory artifact (its ``mime`` is ``inode/directory``)."""
        return self.mime == DIRECTORY_MIME

    @property
    def mimetype(self) -> str | None:
        """Alias of ``mime`` (the AetherGraph schema accepts both names)."""
        return self.mime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: times as RFC 3339 ``Z`` strings, files as dicts."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = format_time(value)
            elif f.name == "files":
                value = [item.to_dict() for item in value]
            elif isinstance(value, list):
                value = list(value)
            elif isinstance(value, dict):
                value = dict(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Artifact:
        """Inverse of ``to_dict``; also accepts ``mimetype`` for ``mime``; ignores unknown keys."""
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        if "mime" not in kwargs and "mimetype" in data:
            kwargs["mime"] = data["mimetype"]
        for key in ("created_at", "updated_at"):
            value = kwargs.get(key)
            if isinstance(value, str):
                kwargs[key] = parse_time(value)
        kwargs["files"] = [
            item if isinstance(item, ArtifactFile) else ArtifactFile.from_dict(item)
            for item in kwargs.get("files") or []
        ]
        for key in ("tags", "labels", "metrics"):
            if kwargs.get(key) is None:
                kwargs.pop(key, None)
        return cls(**kwargs)


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """A run; a Grid experiment is a run with a parent run."""

    run_id: str
    name: str | None = None
    parent_run_id: str | None = None
    org_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    status: RunStatus = "running"
    started_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Occurrence:
    """Lineage: an artifact produced or used by a run (and node)."""

    artifact_id: str
    run_id: str | None
    node_id: str | None
    event: Literal["produced", "used"]
    at: datetime
