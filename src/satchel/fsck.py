"""Check a whole store: every file row's bytes against its blob, like ``git fsck``.

The quick check looks at every file row of every artifact (completed and pending): a
completed file's blob must exist with the recorded size (small files kept inline in the
index are checked there). ``read_data`` also reads each blob through the store's verified
reader and checks its SHA-256 (``restic check --read-data``), in fixed-size chunks. Each
distinct blob is checked once; every artifact file that references it is named.

Damage (an artifact whose bytes are missing or wrong) is what ``satchel fsck`` exits 1 on.
Warnings are what a crash or an abandoned upload leaves, for a garbage collection to remove: blobs
no file row references, temporary objects and unfinished multipart uploads, and pending
artifacts older than a threshold.
"""

from __future__ import annotations

import contextlib
import functools
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from satchel.blob_reads import BlobRead, BlobReads
from satchel.errors import ConfigError, IntegrityError, SatchelError, ValidationError
from satchel.hashing import Digest
from satchel.index.base import FileRow, FileScan
from satchel.models import ArtifactFile, format_time, parse_time
from satchel.storage import BlobGarbage, BlobStore, BlobTimes
from satchel.store import INLINE_LOOKUP_MAX, ArtifactStore

__all__ = [
    "PAGE",
    "PENDING_WARN_AFTER",
    "Damage",
    "FsckReport",
    "FsckWarning",
    "ReadSubset",
    "fsck",
    "iter_file_rows",
    "parse_read_subset",
    "stored_blobs",
]

#: File rows read per index query.
PAGE: Final = 1000
#: A pending artifact not updated for this long is reported (an abandoned upload).
PENDING_WARN_AFTER: Final = timedelta(hours=24)

Problem = Literal["missing", "size", "digest", "unreadable"]
WarningKind = Literal["orphan_blob", "garbage", "stale_pending"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Damage:
    """A file of an artifact whose stored bytes are not the recorded ones.

    Attributes:
        artifact_id: the artifact.
        path: the file's key inside it.
        sha256: the digest the index records.
        problem: ``missing`` (no bytes), ``size`` (another size stored), ``digest`` (the
            bytes hash to something else; found with ``read_data``) or ``unreadable``.
        detail: what was found, for a person.
    """

    artifact_id: str
    path: str
    sha256: str
    problem: Problem
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "artifact_id": self.artifact_id,
            "path": self.path,
            "sha256": self.sha256,
            "problem": self.problem,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class FsckWarning:
    """Collectable garbage: not damage; a collection may remove it past a grace period.

    Attributes:
        kind: ``orphan_blob`` (no file row references it), ``garbage`` (a temporary
            object or unfinished upload) or ``stale_pending`` (a pending artifact).
        key: the blob's digest, the leftover's key, or the artifact's id.
        size: bytes it holds, when known.
        modified: when it was last written or updated, when known.
        detail: what it is, for a person.
    """

    kind: WarningKind
    key: str
    size: int | None
    modified: datetime | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "size": self.size,
            "modified": None if self.modified is None else format_time(self.modified),
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class FsckReport:
    """What ``fsck`` found: counts, damage (exit 1) and warnings (exit 0)."""

    read_data: bool
    read_subset: str | None = None
    artifacts: int = 0
    files: int = 0
    blobs_checked: int = 0
    bytes_read: int = 0
    damage: list[Damage] = field(default_factory=list)
    warnings: list[FsckWarning] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no artifact is damaged (warnings allowed)."""
        return not self.damage

    @property
    def damaged_artifacts(self) -> list[str]:
        """The ids of the damaged artifacts, each once, in order."""
        return list(dict.fromkeys(d.artifact_id for d in self.damage))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "read_data": self.read_data,
            "read_subset": self.read_subset,
            "artifacts": self.artifacts,
            "files": self.files,
            "blobs_checked": self.blobs_checked,
            "bytes_read": self.bytes_read,
            "damaged_artifacts": self.damaged_artifacts,
            "damage": [d.to_dict() for d in self.damage],
            "warnings": [w.to_dict() for w in self.warnings],
        }


_SUBSET: Final = re.compile(r"(\d+)/(\d+)")
_PERCENT: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)%")


@dataclass(frozen=True, slots=True)
class ReadSubset:
    """Which blobs ``fsck`` reads through: the ``n``-th of ``m`` subsets, or a random share.

    Subset ``n`` of ``m`` holds the blobs whose digest's first 8 hex digits, as a number,
    leave ``n - 1`` when divided by ``m``: fixed, disjoint, and together every blob.
    """

    text: str
    n: int = 0
    m: int = 0
    percent: float | None = None

    def selects(self, sha256: str, rng: random.Random) -> bool:
        """Whether the blob with this digest is read (a random draw for a percentage)."""
        if self.percent is not None:
            return rng.random() * 100 < self.percent
        return int(sha256[:8], 16) % self.m == self.n - 1


def parse_read_subset(text: str) -> ReadSubset:
    """``"N/M"`` (1 <= N <= M) or ``"P%"`` (0 < P <= 100); ``ValidationError`` otherwise."""
    spec = text.strip()
    subset = _SUBSET.fullmatch(spec)
    if subset is not None:
        n, m = int(subset.group(1)), int(subset.group(2))
        if 1 <= n <= m:
            return ReadSubset(spec, n=n, m=m)
        raise ValidationError(
            f"read-data subset {text!r}: N/M needs 1 <= N <= M (the N-th of M subsets)"
        )
    share = _PERCENT.fullmatch(spec)
    if share is not None:
        percent = float(share.group(1))
        if 0 < percent <= 100:
            return ReadSubset(spec, percent=percent)
        raise ValidationError(f"read-data subset {text!r}: a percentage must be > 0 and <= 100")
    raise ValidationError(
        f"read-data subset {text!r} is neither N/M (like 1/5) nor a percentage (like 10%)"
    )


def iter_file_rows(store: ArtifactStore, *, page: int = PAGE) -> Iterator[FileRow]:
    """Every file row of the store's index, ``page`` rows per query (bounded memory)."""
    index = store.index
    if not isinstance(index, FileScan):
        raise ConfigError(f"the index at {index.url} cannot list its file rows")
    after: tuple[str, str] | None = None
    while True:
        rows = index.file_rows(after=after, limit=page)
        yield from rows
        if len(rows) < page:
            return
        after = (rows[-1].artifact_id, rows[-1].path)


def stored_blobs(blobs: BlobStore) -> Iterator[tuple[Digest, int, datetime | None]]:
    """Every blob with its size and modification time (None when the store cannot tell)."""
    if isinstance(blobs, BlobTimes):
        yield from blobs.iter_blob_times()
        return
    for digest, size in blobs.iter_blobs():
        yield digest, size, None


Verdict = tuple[Problem, str] | None


class _Checker:
    """Each distinct blob's verdict, by ``<sha256>:<bytes>``: None when sound."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self.verdicts: dict[str, Verdict] = {}
        self.bytes_read = 0

    def quick(self, row: FileRow) -> Verdict:
        """The quick check (inline bytes are checked whole: they are in hand anyway)."""
        try:
            if row.inline:
                return self._check_inline(row)
            size = self.store.blobs.stat(Digest(hexdigest=row.sha256))
            if size is None:
                return self._missing(row)
            if size != row.bytes:
                return "size", f"blob {row.sha256} holds {size} bytes, {row.bytes} recorded"
        except IntegrityError as exc:
            return "digest", str(exc)
        except SatchelError as exc:
            return "unreadable", f"{exc.code}: {exc}"
        return None

    def judge(self, row: FileRow, read: BlobRead) -> Verdict:
        """The verdict on a blob read through (``BlobReads``)."""
        try:
            if read.missing:
                return self._missing(row)
        except SatchelError as exc:
            return "unreadable", f"{exc.code}: {exc}"
        if read.error is not None:
            return "unreadable", f"{read.error.code}: {read.error}"
        if read.size != row.bytes:
            return "size", f"blob {row.sha256} holds {read.size} bytes, {row.bytes} recorded"
        if read.sha256 != row.sha256:
            return "digest", (
                f"integrity check failed for blob {row.sha256}: expected sha256:{row.sha256}, "
                f"stored bytes hash to sha256:{read.sha256}"
            )
        self.bytes_read += row.bytes
        return None

    def _missing(self, row: FileRow) -> Verdict:
        if row.bytes <= INLINE_LOOKUP_MAX and self.store.index.inline_blob(row.sha256) is not None:
            return self._check_inline(row)  # kept inline after all: reads find it
        return "missing", f"blob {row.sha256} is missing from {self.store.blobs.url}"

    def _check_inline(self, row: FileRow) -> Verdict:
        data = self.store.index.inline_blob(row.sha256)
        if data is None:
            return "missing", f"inline bytes of {row.sha256} are missing from the index"
        if len(data) != row.bytes:
            return "size", f"inline bytes of {row.sha256}: {len(data)} stored, {row.bytes} recorded"
        file = ArtifactFile(path=row.path, sha256=row.sha256, bytes=row.bytes)
        try:
            self.store.verify_file(file, what=f"blob {row.sha256}")
        except IntegrityError as exc:
            return "digest", str(exc)
        self.bytes_read += row.bytes
        return None


def fsck(
    store: ArtifactStore,
    *,
    read_data: bool = False,
    read_subset: str | ReadSubset | None = None,
    pending_after: timedelta = PENDING_WARN_AFTER,
    page: int = PAGE,
    now: datetime | None = None,
) -> FsckReport:
    """Check every file row of ``store`` against its bytes; list collectable garbage.

    Args:
        store: the store to check (it is only read).
        read_data: also read every blob and check its SHA-256 (reads everything once).
        read_subset: read and check only these blobs (``"N/M"``, ``"P%"``: ``ReadSubset``);
            the others get the quick check. ``ValidationError`` for a malformed one.
        pending_after: pending artifacts not updated for this long are warned about.
        page: file rows per index query.
        now: the current time (for tests).

    Returns:
        The report; ``report.ok`` is False when an artifact is damaged.
    """
    now = now or datetime.now(UTC)
    subset = parse_read_subset(read_subset) if isinstance(read_subset, str) else read_subset
    reads = _reads(read_data, subset)
    checker = _Checker(store)
    damage: list[Damage] = []
    warnings: list[FsckWarning] = []
    referenced: set[bytes] = set()  # 32 bytes per distinct digest, not the rows
    artifacts = files = 0
    last_artifact: str | None = None
    #: Rows whose blob is being read through, by blob key (a bounded backlog of blobs).
    in_flight: dict[str, list[FileRow]] = {}

    def record(row: FileRow, verdict: Verdict) -> None:
        if verdict is not None:
            problem, detail = verdict
            damage.append(
                Damage(
                    artifact_id=row.artifact_id,
                    path=row.path,
                    sha256=row.sha256,
                    problem=problem,
                    detail=detail,
                )
            )

    def settle(read: BlobRead) -> None:
        rows = in_flight.pop(read.key)
        verdict = checker.verdicts[read.key] = checker.judge(rows[0], read)
        for row in rows:
            record(row, verdict)

    with BlobReads(store.blobs) if reads is not _never else contextlib.nullcontext() as pipe:
        for row in iter_file_rows(store, page=page):
            files += 1
            referenced.add(bytes.fromhex(row.sha256))
            if row.artifact_id != last_artifact:
                artifacts += 1
                last_artifact = row.artifact_id
                stale = _stale_pending(row, now - pending_after)
                if stale is not None:
                    warnings.append(stale)
            if row.status != "completed":
                continue  # an upload still to come: no bytes expected yet
            key = f"{row.sha256}:{row.bytes}"
            if key in checker.verdicts:
                record(row, checker.verdicts[key])
            elif key in in_flight:
                in_flight[key].append(row)
            elif pipe is not None and not row.inline and reads(row.sha256):
                in_flight[key] = [row]
                pipe.submit(Digest(hexdigest=row.sha256), key)
                for read in pipe.done():
                    settle(read)
            else:
                verdict = checker.verdicts[key] = checker.quick(row)
                record(row, verdict)
        if pipe is not None:
            for read in pipe.drain():
                settle(read)
    damage.sort(key=lambda d: (d.artifact_id, d.path))  # row order, whenever found
    warnings += _garbage(store.blobs, referenced)
    return FsckReport(
        read_data=read_data,
        read_subset=None if read_data or subset is None else subset.text,
        artifacts=artifacts,
        files=files,
        blobs_checked=len(checker.verdicts),
        bytes_read=checker.bytes_read,
        damage=damage,
        warnings=warnings,
    )


def _garbage(blobs: BlobStore, referenced: set[bytes]) -> Iterator[FsckWarning]:
    """Blobs no file references, and what writes left behind."""
    for digest, size, modified in stored_blobs(blobs):
        if bytes.fromhex(digest.hexdigest) not in referenced:
            yield FsckWarning(
                kind="orphan_blob",
                key=digest.hexdigest,
                size=size,
                modified=modified,
                detail=f"blob {digest.hexdigest} is referenced by no file",
            )
    if isinstance(blobs, BlobGarbage):
        for item in blobs.iter_garbage(older_than=timedelta(0)):
            yield FsckWarning(
                kind="garbage",
                key=item.key,
                size=item.size,
                modified=item.created_at,
                detail=f"{item.kind.replace('_', ' ')} left by a write",
            )


def _reads(read_data: bool, subset: ReadSubset | None) -> Callable[[str], bool]:
    """Whether a blob, by its digest, is read through."""
    if read_data:
        return _always
    if subset is not None:
        return functools.partial(subset.selects, rng=random.Random())
    return _never


def _always(sha256: str) -> bool:
    return True


def _never(sha256: str) -> bool:
    return False


def _stale_pending(row: FileRow, cutoff: datetime) -> FsckWarning | None:
    if row.artifact_status != "pending":
        return None
    updated = parse_time(row.artifact_updated_at)
    if updated > cutoff:
        return None
    return FsckWarning(
        kind="stale_pending",
        key=row.artifact_id,
        size=None,
        modified=updated,
        detail=f"artifact {row.artifact_id} has been pending since {format_time(updated)}",
    )
