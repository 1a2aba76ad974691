"""Collect what crashes and abandoned uploads leave: plan, then execute.

``plan_gc`` only looks: blobs no file row references, temporary objects and unfinished
multipart uploads, and pending artifacts, each older than the grace period, like git
prune's ``--expire``. A save writes its blob before the index commit that references it,
so a young unreferenced blob may belong to a save in flight: it stays. ``execute_gc``
removes what the plan lists, index rows first and blobs last (a crash in between leaves
only more garbage), and checks once more that no file row references a blob right before
deleting it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from satchel.errors import ConfigError, ConflictError, NotFoundError, ValidationError
from satchel.fsck import iter_file_rows
from satchel.hashing import Digest
from satchel.models import format_time, parse_time
from satchel.storage import BlobGarbage, BlobTimes, GarbageItem
from satchel.store import ArtifactStore

__all__ = [
    "DEFAULT_GRACE",
    "GcPlan",
    "GcResult",
    "OrphanBlob",
    "StalePending",
    "execute_gc",
    "plan_gc",
]

#: How old garbage must be before it is collected.
DEFAULT_GRACE: Final = timedelta(hours=24)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrphanBlob:
    """A blob that no file row referenced when the plan was made."""

    sha256: str
    size: int
    modified: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StalePending:
    """A pending artifact not updated since ``updated_at``."""

    artifact_id: str
    updated_at: datetime
    bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GcPlan:
    """What ``execute_gc`` would remove: everything here is older than ``grace``."""

    grace: timedelta
    cutoff: datetime
    orphan_blobs: list[OrphanBlob] = field(default_factory=list)
    garbage: list[GarbageItem] = field(default_factory=list)
    pending: list[StalePending] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        """Bytes the orphan blobs and leftovers hold (pending artifacts' blobs aside)."""
        return sum(b.size for b in self.orphan_blobs) + sum(g.size or 0 for g in self.garbage)

    @property
    def empty(self) -> bool:
        return not (self.orphan_blobs or self.garbage or self.pending)

    def to_dict(self) -> dict[str, Any]:
        return {
            "grace_seconds": int(self.grace.total_seconds()),
            "cutoff": format_time(self.cutoff),
            "bytes": self.bytes,
            "orphan_blobs": [
                {"sha256": b.sha256, "size": b.size, "modified": format_time(b.modified)}
                for b in self.orphan_blobs
            ],
            "garbage": [
                {
                    "kind": g.kind,
                    "key": g.key,
                    "size": g.size,
                    "created_at": format_time(g.created_at),
                }
                for g in self.garbage
            ],
            "pending_artifacts": [
                {
                    "artifact_id": p.artifact_id,
                    "updated_at": format_time(p.updated_at),
                    "bytes": p.bytes,
                }
                for p in self.pending
            ],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class GcResult:
    """What ``execute_gc`` removed, and what it kept after all (with the reason)."""

    blobs_removed: int = 0
    garbage_removed: int = 0
    pending_removed: int = 0
    bytes_freed: int = 0
    kept: list[str] = field(default_factory=list)

    @property
    def removed(self) -> int:
        return self.blobs_removed + self.garbage_removed + self.pending_removed

    def to_dict(self) -> dict[str, Any]:
        return {
            "removed": self.removed,
            "blobs_removed": self.blobs_removed,
            "garbage_removed": self.garbage_removed,
            "pending_removed": self.pending_removed,
            "bytes_freed": self.bytes_freed,
            "kept": list(self.kept),
        }


def plan_gc(
    store: ArtifactStore, *, grace: timedelta = DEFAULT_GRACE, now: datetime | None = None
) -> GcPlan:
    """List what is older than ``grace`` and collectable; changes nothing.

    Raises:
        ConfigError: the blob store cannot tell when its blobs were written (then no
            unreferenced blob could be told apart from one a save in flight just wrote).
    """
    if grace < timedelta(0):
        raise ConfigError("the grace period cannot be negative")
    blobs = store.blobs
    if not isinstance(blobs, BlobTimes):
        raise ConfigError(f"the blob store at {blobs.url} cannot tell the age of its blobs")
    cutoff = (now or datetime.now(UTC)) - grace
    plan = GcPlan(grace=grace, cutoff=cutoff)
    referenced: set[bytes] = set()
    pending: dict[str, StalePending] = {}
    for row in iter_file_rows(store):
        referenced.add(bytes.fromhex(row.sha256))
        if row.artifact_status != "pending":
            continue
        updated = parse_time(row.artifact_updated_at)
        if updated <= cutoff:
            seen = pending.get(row.artifact_id)
            total = row.bytes + (seen.bytes if seen else 0)
            pending[row.artifact_id] = StalePending(
                artifact_id=row.artifact_id, updated_at=updated, bytes=total
            )
    plan.pending.extend(pending.values())
    for digest, size, modified in blobs.iter_blob_times():
        if modified <= cutoff and bytes.fromhex(digest.hexdigest) not in referenced:
            plan.orphan_blobs.append(
                OrphanBlob(sha256=digest.hexdigest, size=size, modified=modified)
            )
    if isinstance(blobs, BlobGarbage):
        # ``iter_garbage`` measures age from the clock: the age that reaches ``cutoff``.
        age = max(timedelta(0), datetime.now(UTC) - cutoff)
        plan.garbage.extend(blobs.iter_garbage(older_than=age))
    return plan


def execute_gc(store: ArtifactStore, plan: GcPlan) -> GcResult:
    """Remove what ``plan`` lists: pending artifacts' index rows, then leftovers, then blobs.

    A blob is deleted only if, right before, no file row references it (a save of the same
    bytes may have committed since the plan); otherwise it is kept and named in ``kept``.
    """
    kept: list[str] = []
    pending_removed = 0
    freed_digests: list[str] = []
    for item in plan.pending:
        try:
            freed_digests.extend(store.index.delete_artifact(item.artifact_id))
        except NotFoundError:
            continue  # completed-and-deleted or collected by another gc meanwhile
        except ConflictError as exc:
            kept.append(f"pending artifact {item.artifact_id}: {exc}")
            continue
        pending_removed += 1
    garbage_removed = bytes_freed = 0
    if plan.garbage:
        assert isinstance(store.blobs, BlobGarbage)
        for leftover in plan.garbage:
            try:
                removed = store.blobs.remove_garbage(leftover)
            except ValidationError as exc:  # listed, but not a name this store writes
                kept.append(f"{leftover.kind} {leftover.key}: {exc}")
                continue
            if removed:
                garbage_removed += 1
                bytes_freed += leftover.size or 0
    blobs_removed = 0
    candidates: dict[str, int | None] = {b.sha256: b.size for b in plan.orphan_blobs}
    candidates.update((sha, None) for sha in freed_digests)
    for sha256, size in candidates.items():
        if store.index.blob_referenced(sha256):
            kept.append(f"blob {sha256}: referenced again since the plan")
            continue
        digest = Digest(hexdigest=sha256)
        found = store.blobs.stat(digest) if size is None else size
        if store.blobs.delete(digest):
            blobs_removed += 1
            bytes_freed += found or 0
    return GcResult(
        blobs_removed=blobs_removed,
        garbage_removed=garbage_removed,
        pending_removed=pending_removed,
        bytes_freed=bytes_freed,
        kept=kept,
    )
