"""Initial schema: runs, artifacts, files, labels, metrics, tags, inline blobs, occurrences.

PostgreSQL also gets ``artifacts.seq``, the recorded order that SQLite's rowid gives.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(64)
TIME = sa.String(32)


def _fk() -> sa.ForeignKey:
    return sa.ForeignKey("artifacts.artifact_id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", ID, primary_key=True),
        sa.Column("name", sa.Text()),
        sa.Column("parent_run_id", ID),
        sa.Column("org_id", ID),
        sa.Column("user_id", ID),
        sa.Column("session_id", ID),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("ended_at", TIME),
    )
    op.create_index("ix_runs_parent", "runs", ["parent_run_id"])
    op.create_table(
        "artifacts",
        sa.Column("artifact_id", ID, primary_key=True),
        sa.Column("name", sa.Text()),
        sa.Column("kind", sa.Text()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_id", ID),
        sa.Column("graph_id", sa.Text()),
        sa.Column("node_id", sa.Text()),
        sa.Column("tool_name", sa.Text()),
        sa.Column("tool_version", sa.Text()),
        sa.Column("model_id", sa.Text()),
        sa.Column("model_version", sa.Text()),
        sa.Column("sha256", sa.String(64)),
        sa.Column("bytes", sa.BigInteger()),
        sa.Column("mime", sa.Text()),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("metrics", sa.Text(), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("uri", sa.Text()),
        sa.Column("preview_uri", sa.Text()),
        sa.Column("org_id", ID),
        sa.Column("user_id", ID),
        sa.Column("client_id", ID),
        sa.Column("app_id", ID),
        sa.Column("session_id", ID),
    )
    op.create_index("ix_artifacts_created", "artifacts", ["created_at", "artifact_id"])
    op.create_index("ix_artifacts_run", "artifacts", ["run_id", "created_at"])
    op.create_index("ix_artifacts_session", "artifacts", ["session_id", "created_at"])
    op.create_index("ix_artifacts_user", "artifacts", ["user_id", "created_at"])
    op.create_index("ix_artifacts_org", "artifacts", ["org_id", "created_at"])
    op.create_index("ix_artifacts_kind", "artifacts", ["kind", "created_at"])
    if op.get_bind().dialect.name == "postgresql":
        # The recorded order (SQLite's rowid): drawn in commit order, see index/positions.py.
        op.execute("ALTER TABLE artifacts ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY")
        op.execute("CREATE UNIQUE INDEX ix_artifacts_seq ON artifacts (seq)")
    op.create_table(
        "artifact_files",
        sa.Column("artifact_id", ID, _fk(), primary_key=True),
        sa.Column("path", sa.Text(), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("mime", sa.Text()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("inline", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_artifact_files_sha256", "artifact_files", ["sha256"])
    op.create_table(
        "artifact_labels",
        sa.Column("artifact_id", ID, _fk(), primary_key=True),
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("vtype", sa.String(1), nullable=False),
        sa.Column("vstr", sa.Text()),
        sa.Column("vnum", sa.Float()),
    )
    op.create_index("ix_artifact_labels_str", "artifact_labels", ["key", "vstr"])
    op.create_index("ix_artifact_labels_num", "artifact_labels", ["key", "vnum"])
    op.create_table(
        "artifact_metrics",
        sa.Column("artifact_id", ID, _fk(), primary_key=True),
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("value", sa.Float(), nullable=False),
    )
    op.create_index("ix_artifact_metrics_value", "artifact_metrics", ["name", "value"])
    op.create_table(
        "artifact_tags",
        sa.Column("artifact_id", ID, _fk(), primary_key=True),
        sa.Column("tag", sa.Text(), primary_key=True),
    )
    op.create_index("ix_artifact_tags_tag", "artifact_tags", ["tag"])
    op.create_table(
        "inline_blobs",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "occurrences",
        sa.Column("occurrence_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("artifact_id", ID, nullable=False),
        sa.Column("run_id", ID),
        sa.Column("node_id", sa.Text()),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("at", TIME, nullable=False),
    )
    op.create_index("ix_occurrences_artifact", "occurrences", ["artifact_id"])
    op.create_index("ix_occurrences_run", "occurrences", ["run_id"])


def downgrade() -> None:
    for table in (
        "occurrences",
        "inline_blobs",
        "artifact_tags",
        "artifact_metrics",
        "artifact_labels",
        "artifact_files",
        "artifacts",
        "runs",
    ):
        op.drop_table(table)
