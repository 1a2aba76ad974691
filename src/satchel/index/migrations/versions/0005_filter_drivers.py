"""Filter-first search: the artifact's kind on its label and tag rows, in their indexes.

A metric-ranked search whose filters pass few artifacts of a kind (a dataset, a seed and a
tag: a few in ten thousand) cannot read its ranking in order: it would walk the whole kind.
It finds the artifacts through one filter's own index instead and sorts them. With the kind
in that index (``key, vstr, kind, artifact_id``), "label dataset = ds07 of kind model" is a
range of index entries holding the artifact ids, not every model's or every ds07's rows.
Existing rows are backfilled here; the save path fills the column with the artifact row.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("artifact_labels", "artifact_tags"):
        op.add_column(table, sa.Column("kind", sa.Text()))
        # UPDATE ... FROM: both SQLite (3.33+) and PostgreSQL; one join, not a lookup a row.
        op.execute(
            f"UPDATE {table} SET kind = a.kind FROM artifacts AS a "  # noqa: S608 - fixed names
            f"WHERE a.artifact_id = {table}.artifact_id"
        )
    op.drop_index("ix_artifact_labels_str", "artifact_labels")
    op.drop_index("ix_artifact_labels_num", "artifact_labels")
    op.drop_index("ix_artifact_tags_tag", "artifact_tags")
    op.create_index(
        "ix_artifact_labels_str", "artifact_labels", ["key", "vstr", "kind", "artifact_id"]
    )
    op.create_index(
        "ix_artifact_labels_num", "artifact_labels", ["key", "vnum", "vtype", "kind", "artifact_id"]
    )
    op.create_index("ix_artifact_tags_tag", "artifact_tags", ["tag", "kind", "artifact_id"])


def downgrade() -> None:
    op.drop_index("ix_artifact_tags_tag", "artifact_tags")
    op.drop_index("ix_artifact_labels_num", "artifact_labels")
    op.drop_index("ix_artifact_labels_str", "artifact_labels")
    op.create_index("ix_artifact_tags_tag", "artifact_tags", ["tag"])
    op.create_index("ix_artifact_labels_num", "artifact_labels", ["key", "vnum"])
    op.create_index("ix_artifact_labels_str", "artifact_labels", ["key", "vstr"])
    for table in ("artifact_labels", "artifact_tags"):
        op.drop_column(table, "kind")
