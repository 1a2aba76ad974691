"""Lexical search on SQLite: FTS5 word and trigram indexes, backfilled from the rows.

The backfill indexes each artifact's id, name, kind, tags, labels and metric names; run
``ArtifactStore.reindex()`` to add text content and file paths for older artifacts.
Other dialects get their own lexical index with their backend.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BACKFILL = (
    "INSERT INTO {table}(artifact_id, body) SELECT artifact_id, "
    "artifact_id || ' ' || coalesce(name, '') || ' ' || coalesce(kind, '') || ' ' || tags "
    "|| ' ' || labels || ' ' || metrics || ' ' || coalesce(run_id, '') FROM artifacts"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "CREATE VIRTUAL TABLE artifact_fts USING fts5("
        "artifact_id UNINDEXED, body, tokenize = 'unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE VIRTUAL TABLE artifact_trigram USING fts5("
        "artifact_id UNINDEXED, body, tokenize = 'trigram')"
    )
    for table in ("artifact_fts", "artifact_trigram"):
        op.execute(_BACKFILL.format(table=table))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TABLE artifact_trigram")
    op.execute("DROP TABLE artifact_fts")
