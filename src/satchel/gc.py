"""Collect garbage: expired artifacts, abandoned uploads, unreferenced blobs, leftovers.

``satchel gc`` plans, then executes (``restic prune``, ``git gc``):

1. index rows first: the artifacts the retention policies expire (``satchel.retention``;
   never a pinned one, checked again in the deleting transaction) and pending artifacts
   not updated for the grace period (uploads abandoned by a client), in transactions of
   ``BATCH``;
2. blobs last: those the deleted artifacts were the last to reference, then every stored
   blob no file row references that is older than the grace period. Each batch goes
   through the collection protocol (``satchel.index.collect``), so a save that found one
   of them stored never commits a reference to it once it is gone;
3. leftovers of writes older than the grace period: temporary files and objects, and
   unfinished multipart uploads (aborted);
4. the records of deletions older than the grace period, and at least ``DELETIONS_KEPT``.

A crash at any step leaves unreferenced blobs and leftovers (a later ``gc`` takes them),
never an artifact whose bytes are missing. The grace period is the longest a save may
take from writing or finding its blob to committing it (default 24 hours, as ``git
prune``'s two weeks and ``restic``'s locks play the same part).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from satchel import _faults
from satchel.errors import ConfigError, ValidationError
from satchel.fsck import stored_blobs
from satchel.index.base import BlobCollection, RetentionPolicies
from satchel.models import format_time
from satchel.retention import Expiry, expired
from satchel.storage import BlobGarbage, GarbageItem
from satchel.store import ArtifactStore

__all__ = ["BATCH", "DEFAULT_GRACE", "DELETIONS_KEPT", "GcReport", "collect_garbage"]

#: The default grace period.
DEFAULT_GRACE: Final = timedelta(hours=24)
#: The least time a deletion record is kept, whatever the grace period: a save that found
#: its blob stored before the deletion must still find the record when it commits, even
#: when the operator asked for no grace period at all (temporary files of writes in flight
#: are then removed, which fails those writes loudly; a forgotten record would not).
DELETIONS_KEPT: Final = timedelta(days=7)
#: Artifacts per delete transaction, and blobs per collection batch.
BATCH: Final = 500


@dataclass(slots=True, kw_only=True)
class GcReport:
    """What a collection removed (or, with ``dry_run``, would remove).

    Attributes:
        dry_run: nothing was changed.
        grace: the grace period used.
        expired: artifacts the retention policies expired (id, policy, reason).
        abandoned: pending artifacts removed as abandoned uploads.
        artifacts_deleted: artifacts whose rows were deleted.
        blobs_removed: blobs removed from the blob store.
        blob_bytes: the bytes those blobs held.
        orphan_blobs: unreferenced blobs older than the grace period found.
        young_orphans: unreferenced blobs within the grace period, left for later.
        leftovers_removed: temporary files and objects removed, unfinished uploads aborted.
        leftover_bytes: the bytes they held, where known.
        deletions_purged: records of deletions older than the grace period forgotten.
    """

    dry_run: bool
    grace: timedelta
    expired: list[Expiry] = field(default_factory=list)
    abandoned: list[str] = field(default_factory=list)
    artifacts_deleted: int = 0
    blobs_removed: int = 0
    blob_bytes: int = 0
    orphan_blobs: int = 0
    young_orphans: int = 0
    leftovers_removed: int = 0
    leftover_bytes: int = 0
    deletions_purged: int = 0

    @property
    def bytes_freed(self) -> int:
        """Blob and leftover bytes removed (would be, in a dry run; an expired artifact's
        blobs count only once a real run finds no other artifact uses them)."""
        return self.blob_bytes + self.leftover_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "grace_seconds": int(self.grace.total_seconds()),
            "expired": [e.to_dict() for e in self.expired],
            "abandoned": self.abandoned,
            "artifacts_deleted": self.artifacts_deleted,
            "blobs_removed": self.blobs_removed,
            "blob_bytes": self.blob_bytes,
            "orphan_blobs": self.orphan_blobs,
            "young_orphans": self.young_orphans,
            "leftovers_removed": self.leftovers_removed,
            "leftover_bytes": self.leftover_bytes,
            "deletions_purged": self.deletions_purged,
            "bytes_freed": self.bytes_freed,
        }


def collect_garbage(
    store: ArtifactStore,
    *,
    grace: timedelta = DEFAULT_GRACE,
    dry_run: bool = False,
    now: datetime | None = None,
    retention: bool = True,
) -> GcReport:
    """Plan, then (unless ``dry_run``) execute a collection of ``store``.

    Args:
        store: the store to collect.
        grace: what was written, updated or deleted more recently than this is kept.
        dry_run: only report what would go.
        now: the current time (for tests).
        retention: apply the store's retention policies (``satchel.retention``).

    Returns:
        The report.
    """
    if grace < timedelta(0):
        raise ValidationError(f"the grace period must not be negative, got {grace}")
    index = store.index
    if not isinstance(index, BlobCollection):
        raise ConfigError(f"the index at {index.url} cannot collect garbage")
    now = now or datetime.now(UTC)
    cutoff = now - grace
    report = GcReport(dry_run=dry_run, grace=grace)
    # 1. Index rows first.
    if retention and isinstance(index, RetentionPolicies):
        report.expired = expired(index, now=now)
    report.abandoned = index.stale_pending(before=format_time(cutoff))
    if not dry_run:
        gone: set[str] = set()
        for keep_pinned, ids in (
            (True, [e.artifact_id for e in report.expired]),
            (False, report.abandoned),
        ):
            for batch in _batches(ids):
                deleted, candidates = index.delete_artifacts(batch, keep_pinned=keep_pinned)
                _faults.point("gc.rows_deleted")
                gone.update(deleted)
                report.artifacts_deleted += len(deleted)
                _remove(store, candidates, report, now)
        # Pinned (or its run restarted) since the plan: kept, and not reported as expired.
        report.expired = [e for e in report.expired if e.artifact_id in gone]
    # 2. Blobs no file row references, older than the grace period.
    orphans = _orphans(store, index, now, cutoff, report)
    if not dry_run:
        for batch in _batches(list(orphans)):
            _remove(store, {d: orphans[d] for d in batch}, report, now)
    # 3. Leftovers of writes.
    if isinstance(store.blobs, BlobGarbage):
        _leftovers(store.blobs, grace, report, dry_run=dry_run)
    # 4. Deletion records past the grace period.
    if not dry_run:
        forget = now - max(grace, DELETIONS_KEPT)
        report.deletions_purged = index.purge_blob_deletions(before=format_time(forget))
    return report


def _batches(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), BATCH):
        yield items[i : i + BATCH]


def _orphans(
    store: ArtifactStore, index: BlobCollection, now: datetime, cutoff: datetime, report: GcReport
) -> dict[str, int]:
    """Unreferenced blobs older than ``cutoff``, with their sizes."""
    referenced = {bytes.fromhex(d) for d in index.referenced_digests()}
    orphans: dict[str, int] = {}
    for digest, size, modified in stored_blobs(store.blobs):
        if bytes.fromhex(digest.hexdigest) in referenced:
            continue
        # A blob of unknown age may be a save's in flight, unless there is no grace.
        young = cutoff < now if modified is None else modified > cutoff
        if young:
            report.young_orphans += 1
            continue
        orphans[digest.hexdigest] = size
    report.orphan_blobs = len(orphans)
    if report.dry_run:
        report.blobs_removed = len(orphans)
        report.blob_bytes = sum(orphans.values())
    return orphans


def _remove(store: ArtifactStore, sizes: dict[str, int], report: GcReport, now: datetime) -> None:
    """Collect the blobs of ``sizes`` (digest to size) that nothing references."""
    for hexdigest in store.collect_blobs(list(sizes), now=now):
        report.blobs_removed += 1
        report.blob_bytes += sizes[hexdigest]


def _leftovers(blobs: BlobGarbage, grace: timedelta, report: GcReport, *, dry_run: bool) -> None:
    items: list[GarbageItem] = list(blobs.iter_garbage(older_than=grace))
    for item in items:
        if dry_run or blobs.remove_garbage(item):
            report.leftovers_removed += 1
            report.leftover_bytes += item.size or 0
