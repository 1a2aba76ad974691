"""Lexical search: FTS5 word and trigram indexes (SQLite) or a tsvector and pg_trgm table
(PostgreSQL), and the indexers' watermarks.

Text indexes are filled by catch-up, not on the save path: ``search_watermarks`` records up
to which artifact row (by rowid) each index is built, and every text search first indexes
the rows past it. An index created here starts empty and catches up on the first search.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_watermarks",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _postgresql()
    if dialect != "sqlite":
        return
    op.execute(
        "CREATE VIRTUAL TABLE artifact_fts USING fts5("
        "artifact_id UNINDEXED, body, tokenize = 'unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE VIRTUAL TABLE artifact_trigram USING fts5("
        "artifact_id UNINDEXED, body, tokenize = 'trigram')"
    )


def _postgresql() -> None:
    # The trigram operator class for partial ids and names. The extension must be available
    # on the server; creating it needs a role allowed to (docs/postgres.md).
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        "CREATE TABLE artifact_text ("
        "artifact_id varchar(64) PRIMARY KEY"
        " REFERENCES artifacts (artifact_id) ON DELETE CASCADE,"
        " body text NOT NULL,"
        " words tsvector NOT NULL)"
    )
    op.execute("CREATE INDEX ix_artifact_text_words ON artifact_text USING gin (words)")
    op.execute(
        "CREATE INDEX ix_artifact_text_trigram ON artifact_text USING gin (body gin_trgm_ops)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE artifact_text")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE artifact_trigram")
        op.execute("DROP TABLE artifact_fts")
    op.drop_table("search_watermarks")
