"""The index schema, one SQLAlchemy Core metadata for SQLite and PostgreSQL.

The migrations under ``migrations/versions`` create exactly this; a test compares the two.
Times are fixed-width RFC 3339 text (``2026-11-23T11:20:00.000000Z``) so that text order is
time order on both dialects. Labels, metrics and tags are kept twice: as JSON on the artifact
row (the exact values, for reading) and as rows of their own (typed, indexed, for filtering).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text

__all__ = [
    "SCHEMA_HEAD",
    "artifact_files",
    "artifact_labels",
    "artifact_metrics",
    "artifact_tags",
    "artifact_vectors",
    "artifacts",
    "blob_deletions",
    "grants",
    "inline_blobs",
    "metadata",
    "occurrences",
    "orgs",
    "retention_policies",
    "runs",
    "search_watermarks",
    "tokens",
    "users",
]

#: The newest migration revision; opening an index at this revision skips Alembic entirely.
SCHEMA_HEAD: Final = "0008"

ID = String(64)
TIME = String(32)

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("run_id", ID, primary_key=True),
    Column("name", Text),
    Column("parent_run_id", ID),
    Column("org_id", ID),
    Column("user_id", ID),
    Column("session_id", ID),
    Column("status", String(16), nullable=False),
    Column("started_at", TIME, nullable=False),
    Column("ended_at", TIME),
    Index("ix_runs_parent", "parent_run_id"),
    Index("ix_runs_started", "started_at", "run_id"),  # run listings (migration 0006)
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("artifact_id", ID, primary_key=True),
    Column("name", Text),
    Column("kind", Text),
    Column("status", String(16), nullable=False),
    Column("run_id", ID),
    Column("graph_id", Text),
    Column("node_id", Text),
    Column("tool_name", Text),
    Column("tool_version", Text),
    Column("model_id", Text),
    Column("model_version", Text),
    Column("sha256", String(64)),
    Column("bytes", BigInteger),
    Column("mime", Text),
    Column("created_at", TIME, nullable=False),
    Column("updated_at", TIME, nullable=False),
    Column("tags", Text, nullable=False),
    Column("labels", Text, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("pinned", Boolean, nullable=False),
    Column("uri", Text),
    Column("preview_uri", Text),
    Column("org_id", ID),
    Column("user_id", ID),
    Column("client_id", ID),
    Column("app_id", ID),
    Column("session_id", ID),
    Index("ix_artifacts_created", "created_at", "artifact_id"),
    Index("ix_artifacts_run", "run_id", "created_at"),
    Index("ix_artifacts_run_kind", "run_id", "kind", "created_at"),
    Index("ix_artifacts_session", "session_id", "created_at"),
    Index("ix_artifacts_user", "user_id", "created_at"),
    Index("ix_artifacts_org", "org_id", "created_at"),
    Index("ix_artifacts_kind", "kind", "created_at"),
    Index("ix_artifacts_org_kind", "org_id", "kind"),  # the kinds a reader sees (0007)
    # A user's uploads in progress (0007): pending rows only, so it stays tiny.
    Index(
        "ix_artifacts_pending",
        "user_id",
        "created_at",
        sqlite_where=sql_text("status = 'pending'"),
        postgresql_where=sql_text("status = 'pending'"),
    ),
)

_ARTIFACT_FK = ForeignKey("artifacts.artifact_id", ondelete="CASCADE")

artifact_files = Table(
    "artifact_files",
    metadata,
    Column("artifact_id", ID, _ARTIFACT_FK, primary_key=True),
    Column("path", Text, primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("mime", Text),
    Column("status", String(16), nullable=False),
    Column("inline", Boolean, nullable=False),
    Index("ix_artifact_files_sha256", "sha256"),
)

artifact_labels = Table(
    "artifact_labels",
    metadata,
    Column(
        "artifact_id", ID, ForeignKey("artifacts.artifact_id", ondelete="CASCADE"), primary_key=True
    ),
    Column("key", Text, primary_key=True),
    Column("vtype", String(1), nullable=False),  # s: string, n: number, b: boolean
    Column("vstr", Text),
    Column("vnum", Float),
    # The artifact's kind, copied from its row (migration 0005): a search by kind finds the
    # artifacts one label passes off this index alone (``query.driver_rows``).
    Column("kind", Text),
    Index("ix_artifact_labels_str", "key", "vstr", "kind", "artifact_id"),
    Index("ix_artifact_labels_num", "key", "vnum", "vtype", "kind", "artifact_id"),
    # SQLite: the row in its primary key's B-tree, one lookup per probe (migration 0005).
    sqlite_with_rowid=False,
)

artifact_metrics = Table(
    "artifact_metrics",
    metadata,
    Column(
        "artifact_id", ID, ForeignKey("artifacts.artifact_id", ondelete="CASCADE"), primary_key=True
    ),
    Column("name", Text, primary_key=True),
    Column("value", Float, nullable=False),
    # The artifact's kind and creation time, copied from its row (migration 0003) so that
    # one index serves "kind = ? ORDER BY value, newest first" without a sort.
    Column("kind", Text),
    Column("created_at", TIME),
    Index("ix_artifact_metrics_value", "name", "value"),
    Index("ix_artifact_metrics_rank", "name", "kind", "value", "created_at", "artifact_id"),
    sqlite_with_rowid=False,  # as artifact_labels (migration 0005)
)

artifact_tags = Table(
    "artifact_tags",
    metadata,
    Column(
        "artifact_id", ID, ForeignKey("artifacts.artifact_id", ondelete="CASCADE"), primary_key=True
    ),
    Column("tag", Text, primary_key=True),
    Column("kind", Text),  # the artifact's, as on label rows (migration 0005)
    Index("ix_artifact_tags_tag", "tag", "kind", "artifact_id"),
)

inline_blobs = Table(
    "inline_blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("bytes", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
)

#: One vector per artifact and embedding model: float32, little-endian, unit length.
artifact_vectors = Table(
    "artifact_vectors",
    metadata,
    Column(
        "artifact_id", ID, ForeignKey("artifacts.artifact_id", ondelete="CASCADE"), primary_key=True
    ),
    Column("model", String(64), primary_key=True),
    Column("vector", LargeBinary, nullable=False),
    Index("ix_artifact_vectors_model", "model"),
)

search_watermarks = Table(
    "search_watermarks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

occurrences = Table(
    "occurrences",
    metadata,
    Column("occurrence_id", Integer, primary_key=True, autoincrement=True),
    Column("artifact_id", ID, nullable=False),
    Column("run_id", ID),
    Column("node_id", Text),
    Column("event", String(16), nullable=False),
    Column("at", TIME, nullable=False),
    Index("ix_occurrences_artifact", "artifact_id"),
    Index("ix_occurrences_run", "run_id"),
)

# -- tenancy (migration 0006): who may read what; ``satchel.tenancy`` reads and writes these.

orgs = Table(
    "orgs",
    metadata,
    Column("org_id", ID, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("created_at", TIME, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("email", Text, nullable=False, unique=True),  # lower-cased
    Column("org_id", ID, ForeignKey("orgs.org_id"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("display_name", Text),
    Column("password_hash", Text),  # scrypt, with its salt and parameters (``tenancy.secrets``)
    Column("created_at", TIME, nullable=False),
    CheckConstraint("role IN ('member', 'admin')", name="ck_users_role"),
    Index("ix_users_org", "org_id"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("token_id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    Column("secret_sha256", String(64), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("run_id", ID),  # a job token: writes into this run only
    Column("created_at", TIME, nullable=False),
    Column("expires_at", TIME),
    Column("last_used_at", TIME),
    Column("revoked_at", TIME),
    Index("ix_tokens_user", "user_id"),
)

#: A grant lets one email or one org read one artifact. The two unique constraints also
#: index ``artifact_id`` first: the access check's per-artifact probe.
grants = Table(
    "grants",
    metadata,
    Column("grant_id", ID, primary_key=True),
    Column(
        "artifact_id", ID, ForeignKey("artifacts.artifact_id", ondelete="CASCADE"), nullable=False
    ),
    Column("recipient_email", Text),  # lower-cased
    Column("recipient_org_id", ID, ForeignKey("orgs.org_id", ondelete="CASCADE")),
    Column("granted_by", ID, nullable=False),
    Column("created_at", TIME, nullable=False),
    CheckConstraint(
        "(recipient_email IS NULL) <> (recipient_org_id IS NULL)", name="ck_grants_one_recipient"
    ),
    UniqueConstraint("artifact_id", "recipient_email", name="uq_grants_email"),
    UniqueConstraint("artifact_id", "recipient_org_id", name="uq_grants_org"),
    Index("ix_grants_email", "recipient_email", "artifact_id"),
    Index("ix_grants_org", "recipient_org_id", "artifact_id"),
)

# -- collection (migration 0008): ``satchel gc``, deletes and retention.

#: A blob deleted while a save may have found it stored: such a save checks here before it
#: commits a reference (``satchel.gc``). Purged after the collection's grace period.
blob_deletions = Table(
    "blob_deletions",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("deleted_at", TIME, nullable=False),
    Index("ix_blob_deletions_at", "deleted_at"),
)

#: What ``satchel gc`` expires, per kind and/or run of an organisation (``satchel.retention``).
retention_policies = Table(
    "retention_policies",
    metadata,
    Column("policy_id", ID, primary_key=True),
    Column("org_id", ID),
    Column("name", Text),
    Column("kind", Text),
    Column("run_id", ID),
    Column("group_by", String(16), nullable=False),
    Column("keep_last", Integer),
    Column("keep_best", Integer),
    Column("metric", Text),
    Column("metric_mode", String(8)),
    Column("ttl_seconds", BigInteger),
    Column("created_by", ID),
    Column("created_at", TIME, nullable=False),
    Index("ix_retention_policies_org", "org_id"),
)
