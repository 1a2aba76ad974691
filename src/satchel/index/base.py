"""The metadata index seam: a Protocol and the value types it takes, no logic."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence, Set
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from satchel.models import Artifact, ArtifactStatus, FileStatus, Occurrence, Run, RunStatus
from satchel.usage import UsageReport

if TYPE_CHECKING:  # the value type lives with its rules (``satchel.retention``)
    from satchel.retention import RetentionPolicy

__all__ = [
    "ORIGINS",
    "ArtifactQuery",
    "ArtifactWrite",
    "BlobCollection",
    "FileRow",
    "FileScan",
    "Index",
    "KindListing",
    "LabelValue",
    "LexicalSearch",
    "MetricOrder",
    "Origin",
    "QueryPosition",
    "Reader",
    "RetentionPolicies",
    "RetentionRow",
    "RunPosition",
    "RunQuery",
    "SchemaMigrations",
    "UploadLedger",
    "UsageFigures",
    "VectorStore",
]

LabelValue = str | int | float | bool
MetricOrder = Literal["max", "min"]
#: Who made an artifact, as seen by a reader (seeds/000's creator filters): created by the
#: reader, by the reader's org, or by another org and shared with the reader (a grant).
Origin = Literal["mine", "org", "shared"]
ORIGINS: frozenset[Origin] = frozenset({"mine", "org", "shared"})

#: Columns a query may compare for equality (None compares as IS NULL).
EQUALITY_COLUMNS = frozenset(
    {
        "run_id",
        "session_id",
        "user_id",
        "org_id",
        "graph_id",
        "node_id",
        "kind",
        "client_id",
        "app_id",
        "tool_name",
        "model_id",
        "status",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactWrite:
    """One artifact to commit, with the small blobs kept inline in the index."""

    artifact: Artifact
    inline_blobs: Mapping[str, bytes] = field(default_factory=dict)
    run: Run | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reader:
    """Whose reading a query is for: only artifacts this reader may read are found.

    A reader may read an artifact it created (``user_id``), one of its org (``org_id``),
    and one a grant names its ``email`` or its org for (DESIGN.md, access model).
    """

    user_id: str
    org_id: str
    email: str


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryPosition:
    """Where a page ended, for keyset paging: the last row's sort key.

    The next page starts strictly after it, so rows inserted meanwhile (always newer) never
    shift or repeat rows between pages.
    """

    created_at: str
    artifact_id: str
    metric_value: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactQuery:
    """A structured listing: equality, tags, typed labels, time, metric order, limit.

    Results are newest first (``created_at``, then ``artifact_id``), or by ``metric`` when
    ``metric_order`` is given, in which case artifacts without that metric are left out.
    Only ``completed`` artifacts are listed unless ``include_pending``.
    """

    equals: Mapping[str, str | None] = field(default_factory=dict)
    tags_all: Sequence[str] = ()
    labels: Mapping[str, LabelValue] = field(default_factory=dict)
    created_since: str | None = None
    metric: str | None = None
    metric_order: MetricOrder | None = None
    limit: int | None = None
    include_pending: bool = False
    after: QueryPosition | None = None
    #: Metrics an artifact must have (whatever the order).
    has_metrics: Sequence[str] = ()
    #: Only artifacts recorded at or before this position (``LexicalSearch.newest_position``):
    #: a ranked search pages over the same rows while new ones arrive.
    recorded_until: int | None = None
    #: Only artifacts this reader may read, decided in the same SQL statement on every
    #: path (listing, ranking, text and vector search). None: no access filter (the
    #: embedded SDK, one local actor with full rights).
    reader: Reader | None = None
    #: With a reader: only artifacts of these origins (a union); empty: every readable one.
    origin: frozenset[Origin] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class RunPosition:
    """Where a page of runs ended: the last run's start time and id (newest first)."""

    started_at: str
    run_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunQuery:
    """A listing of runs, newest started first, with keyset paging.

    ``equals`` compares ``org_id``, ``user_id``, ``session_id``, ``parent_run_id`` or
    ``status`` (None compares as IS NULL). With a ``reader``, only runs it started or of
    its org are listed.
    """

    equals: Mapping[str, str | None] = field(default_factory=dict)
    limit: int | None = None
    after: RunPosition | None = None
    reader: Reader | None = None


class Index(Protocol):
    """Artifact metadata, runs and lineage."""

    @property
    def url(self) -> str:
        """The URL this index was opened from (credentials removed)."""

    def commit_writes(
        self, writes: Sequence[ArtifactWrite], *, confirmed: Set[str] = frozenset()
    ) -> None:
        """Insert all artifacts (and their runs if new) in one durable transaction.

        Raises:
            BlobCollectedError: a collection removed one of the stored blobs the files
                reference (``BlobCollection``); nothing was committed. ``confirmed``:
                such digests the caller found stored again, which then commit.
        """

    def get(self, artifact_id: str, *, reader: Reader | None = None) -> Artifact | None:
        """One completed artifact, or None (also when ``reader`` may not read it)."""

    def query(self, query: ArtifactQuery) -> list[Artifact]:
        """Artifacts matching a structured query."""

    def delete_artifact(self, artifact_id: str) -> list[str]:
        """Delete an artifact with its files, labels, metrics, tags, vectors, text rows,
        grants and lineage, in one transaction.

        Returns:
            The digests its files referenced that no artifact references any more (for
            the caller to remove from the blob store after this commit).

        Raises:
            NotFoundError: no such artifact (completed or pending).
            ConflictError: the run that produced it is still ``running``.
        """

    def set_pinned(self, artifact_id: str, pinned: bool, *, updated_at: str) -> bool:
        """Set the pin; False when no such artifact."""

    def inline_blob(self, sha256: str) -> bytes | None:
        """The bytes of a small blob kept inline, or None."""

    def blob_referenced(self, sha256: str) -> bool:
        """Whether any artifact file (complete or pending) references this digest."""

    def get_run(self, run_id: str) -> Run | None:
        """A run, or None."""

    def ensure_run(self, run: Run) -> None:
        """Record a run unless it exists."""

    def set_run_status(self, run_id: str, status: RunStatus, *, ended_at: str | None) -> bool:
        """Update a run's status; False when no such run."""

    def list_runs(self, query: RunQuery) -> list[Run]:
        """Runs matching ``query``, newest started first."""

    def delete_run(self, run_id: str) -> list[str]:
        """Delete a run, its child runs (experiments) and every artifact of them.

        Returns:
            The digests no artifact references any more (as ``delete_artifact``).

        Raises:
            NotFoundError: no such run.
            ConflictError: the run or one of its children is still ``running``.
        """

    def add_occurrences(self, items: Sequence[Occurrence]) -> None:
        """Record lineage events."""

    def occurrences(self, artifact_id: str, *, reader: Reader | None = None) -> list[Occurrence]:
        """Lineage of one artifact, oldest first.

        With a ``reader``, the uses it may see: by runs of its org (or its own runs); a
        use by a run the index does not hold only when the artifact is of its org.
        """

    def close(self) -> None:
        """Release connections."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FileRow:
    """One file row of an artifact of any status, with what ``fsck`` and ``gc`` need.

    ``inline`` says the bytes are kept in the index (``Index.inline_blob``);
    ``artifact_updated_at`` is the artifact's ``updated_at`` (RFC 3339).
    """

    artifact_id: str
    artifact_status: ArtifactStatus
    artifact_updated_at: str
    path: str
    sha256: str
    bytes: int
    status: FileStatus
    inline: bool


@runtime_checkable
class FileScan(Protocol):
    """Optional ability: every file row, a page at a time (``fsck`` and ``gc``)."""

    def file_rows(self, *, after: tuple[str, str] | None, limit: int) -> list[FileRow]:
        """Up to ``limit`` file rows ordered by ``(artifact_id, path)``, strictly after
        ``after`` (None: from the first)."""


@runtime_checkable
class BlobCollection(Protocol):
    """What a collection needs so that it never removes a blob a save is about to use
    (the protocol is in ``satchel.index.collect``)."""

    def collection_lock(self, *, shared: bool) -> AbstractContextManager[None]:
        """Held exclusively while collecting; shared by a save checking a collected blob."""

    def doom_blobs(self, candidates: Sequence[str], *, deleted_at: str) -> list[str]:
        """Record the candidates no file row references as deleted (one transaction,
        serialised with saves); returns them. Remove their blobs only after this, and
        only while holding the collection lock."""

    def purge_blob_deletions(self, *, before: str) -> int:
        """Forget deletions recorded before ``before``; returns how many."""

    def referenced_digests(self, *, page: int = 10_000) -> Iterator[str]:
        """Every digest a file row references, once each, in order."""

    def stale_pending(self, *, before: str) -> list[str]:
        """Pending artifacts last updated before ``before`` (not of a running run)."""

    def delete_artifacts(
        self, artifact_ids: Sequence[str], *, keep_pinned: bool = False
    ) -> tuple[list[str], dict[str, int]]:
        """Delete these artifacts in one transaction: missing ones are skipped, and with
        ``keep_pinned`` so are those pinned or of a running run by now (a retention plan
        is a snapshot). Returns the ids deleted, and the digests no file row references
        any more with their sizes (candidates for ``doom_blobs``)."""


@runtime_checkable
class SchemaMigrations(Protocol):
    """Optional ability: a schema with revisions (Alembic), inspected and migrated."""

    @property
    def head_revision(self) -> str:
        """The newest revision this satchel knows."""

    def current_revision(self) -> str | None:
        """The revision the database is at (None: no schema yet)."""

    def upgrade(self) -> None:
        """Migrate to ``head_revision`` (nothing to do at head)."""


@runtime_checkable
class KindListing(Protocol):
    """Optional ability: the distinct kinds of the artifacts, through the index."""

    def kinds(self, limit: int, *, reader: Reader | None = None) -> list[str]:
        """Up to ``limit`` distinct kinds, in text order: of every artifact (of any status),
        or with a ``reader``, of its organisation's artifacts and those granted to it."""


@runtime_checkable
class LexicalSearch(Protocol):
    """Optional ability: full-text search over the artifacts' documents."""

    def lexical(self, text: str, query: ArtifactQuery, limit: int) -> list[Artifact]:
        """Artifacts matching ``text`` and every filter of ``query``, most relevant first."""

    def reindex(self) -> int:
        """Rebuild the text indexes from the rows; returns how many artifacts were indexed."""

    def newest_position(self) -> int:
        """The position of the newest recorded artifact (0 for none), for ``recorded_until``."""


@runtime_checkable
class VectorStore(Protocol):
    """Optional ability: vectors stored next to the rows, for semantic search.

    The index only stores and filters; embedding and scoring live in
    ``satchel.search.semantic``. Vectors are opaque bytes keyed by artifact and model.
    """

    def pending_documents(self, model: str, limit: int) -> tuple[list[tuple[str, str]], int]:
        """Up to ``limit`` ``(artifact_id, text)`` still without a ``model`` vector, and the
        position to pass to ``store_vectors`` once they are embedded."""

    def store_vectors(
        self, model: str, vectors: Sequence[tuple[str, bytes]], position: int
    ) -> None:
        """Keep vectors (rows already stored by another process win) and advance the mark."""

    def vector_state(self, model: str) -> tuple[int, int]:
        """How many ``model`` vectors are stored, and the newest one's position (0: none)."""

    def read_vectors(self, model: str, after: int, limit: int) -> list[tuple[int, str, bytes]]:
        """``(position, artifact_id, vector)`` stored after ``after``, oldest first."""

    def reset_vectors(self, model: str | None = None) -> None:
        """Drop the vectors of ``model`` (every model for None); they are embedded again."""

    def matching_ids(self, query: ArtifactQuery, among: Sequence[str] | None = None) -> list[str]:
        """Ids matching every filter of ``query``: those of ``among`` in its order, or all."""

    def get_many(self, ids: Sequence[str], *, reader: Reader | None = None) -> list[Artifact]:
        """The completed artifacts of ``ids``, in that order (unknown ids, and those
        ``reader`` may not read, are left out)."""


@runtime_checkable
class UploadLedger(Protocol):
    """Two-phase uploads (the server's): pending artifacts and completing their files.

    A pending artifact is written with ``Index.commit_writes`` (status ``pending``, each
    file ``pending`` or ``completed``); ``satchel.index.uploads`` implements this for SQL.
    """

    def get_any(self, artifact_id: str) -> Artifact | None:
        """One artifact whatever its status, or None."""

    def complete_files(
        self,
        artifact_id: str,
        paths: Sequence[str],
        *,
        inline: Mapping[str, bytes],
        updated_at: str,
    ) -> ArtifactStatus:
        """Mark files completed; the last one completes the artifact (one transaction)."""

    def org_holds_blob(self, sha256: str, size: int, org_id: str) -> bool:
        """Whether a completed file of an artifact of ``org_id`` has these bytes."""

    def pending_of(self, user_id: str, limit: int) -> list[Artifact]:
        """Up to ``limit`` of the user's pending artifacts, newest first."""


@runtime_checkable
class UsageFigures(Protocol):
    """Optional ability: usage figures per org and user, aggregated inside the index
    (``satchel.usage`` says what each figure counts)."""

    def usage(self, *, org_id: str | None = None) -> UsageReport:
        """The figures of one org (``org_id``), or of every org with the store's total
        (None: artifacts saved without an org then form an org row of their own)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionRow:
    """One completed artifact a retention policy selects, with what planning needs.

    ``created_at`` is the stored RFC 3339 text (fixed width: text order is time order);
    ``running``: its run is still running; ``metric``: its value of the policy's metric
    (None without one, or when the policy ranks by none).
    """

    artifact_id: str
    created_at: str
    run_id: str | None
    name: str | None
    pinned: bool
    running: bool
    metric: float | None


@runtime_checkable
class RetentionPolicies(Protocol):
    """Optional ability: retention policies kept in the index, and what each selects
    (``satchel.retention`` plans on these; ``satchel.index.retention`` for SQL)."""

    def add_policy(self, policy: RetentionPolicy) -> None:
        """Record a policy (its ``policy_id`` must be new)."""

    def list_policies(self, *, org_id: str | None = None) -> list[RetentionPolicy]:
        """The policies of ``org_id`` (None: every policy, store-wide ones and every
        organisation's), oldest first."""

    def get_policy(self, policy_id: str) -> RetentionPolicy | None:
        """One policy, or None."""

    def delete_policy(self, policy_id: str) -> bool:
        """Remove a policy; False when no such policy."""

    def retention_rows(self, policy: RetentionPolicy) -> list[RetentionRow]:
        """Every completed artifact ``policy`` selects (its org, kind, run and the run's
        descendants), in no particular order."""
