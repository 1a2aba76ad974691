"""Lexical search: FTS5 word and trigram indexes (SQLite) and the indexers' watermarks.

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


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE artifact_trigram")
        op.execute("DROP TABLE artifact_fts")
    op.drop_table("search_watermarks")
