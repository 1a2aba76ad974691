"""Search speed: an index that ranks metric rows, and the word index's vocabulary.

``best`` and a metric-sorted ``search_page`` filter on ``kind`` and order by the metric's
value, newest first among ties. With only ``(name, value)`` to go on, SQLite walked every
artifact of the kind and sorted them; ``ix_artifact_metrics_rank`` serves the filter and the
order at once, so the first page is read off the index. Existing rows are backfilled here;
the save path fills the two columns in the same transaction as the artifact row.
``ix_artifacts_run_kind`` lets a run-level search by kind read only that kind of the run.
``artifact_fts_vocab`` (SQLite) lists the word index's terms, for looking up near spellings;
on PostgreSQL ``artifact_terms`` does, kept by the text catch-up.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("artifact_metrics", sa.Column("kind", sa.Text()))
    op.add_column("artifact_metrics", sa.Column("created_at", sa.String(32)))
    # UPDATE ... FROM: both SQLite (3.33+) and PostgreSQL; one join, not two lookups a row.
    op.execute(
        "UPDATE artifact_metrics SET kind = a.kind, created_at = a.created_at "
        "FROM artifacts AS a WHERE a.artifact_id = artifact_metrics.artifact_id"
    )
    op.create_index(
        "ix_artifact_metrics_rank",
        "artifact_metrics",
        ["name", "kind", "value", "created_at", "artifact_id"],
    )
    # A run's artifacts of one kind: a run-level search by kind reads those, not the run.
    op.create_index("ix_artifacts_run_kind", "artifacts", ["run_id", "kind", "created_at"])
    if op.get_bind().dialect.name == "sqlite":
        # The word index's terms, read in place (no storage of its own): a typo is looked
        # up as the few strings one edit away from it.
        op.execute("CREATE VIRTUAL TABLE artifact_fts_vocab USING fts5vocab(artifact_fts, 'row')")
    if op.get_bind().dialect.name == "postgresql":
        # The text index's terms with how many documents hold each, kept by the catch-up.
        op.execute("CREATE TABLE artifact_terms (term text PRIMARY KEY, docs bigint NOT NULL)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE artifact_terms")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE artifact_fts_vocab")
    op.drop_index("ix_artifacts_run_kind", "artifacts")
    op.drop_index("ix_artifact_metrics_rank", "artifact_metrics")
    op.drop_column("artifact_metrics", "created_at")
    op.drop_column("artifact_metrics", "kind")
