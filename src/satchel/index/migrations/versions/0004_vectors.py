"""Semantic search: one stored vector per artifact and embedding model.

Vectors are filled like the text indexes, by catch-up (``search_watermarks`` row
``semantic:<model>``), never on the save path, so an index migrated here starts with none.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifact_vectors",
        sa.Column(
            "artifact_id",
            sa.String(64),
            sa.ForeignKey("artifacts.artifact_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("model", sa.String(64), primary_key=True),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_artifact_vectors_model", "artifact_vectors", ["model"])
    if op.get_bind().dialect.name == "postgresql":
        # The order vectors were stored in (SQLite's rowid), drawn in commit order.
        op.execute(
            "ALTER TABLE artifact_vectors ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY"
        )
        op.execute("CREATE UNIQUE INDEX ix_artifact_vectors_seq ON artifact_vectors (seq)")


def downgrade() -> None:
    op.drop_index("ix_artifact_vectors_model", "artifact_vectors")
    op.drop_table("artifact_vectors")
