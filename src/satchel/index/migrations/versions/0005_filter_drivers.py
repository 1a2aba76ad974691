"""Filter-first search: the artifact's kind on its label and tag rows, in their indexes;
on SQLite, label and metric rows clustered by artifact.

A metric-ranked search whose filters pass few artifacts of a kind (a dataset, a seed and a
tag: a few in ten thousand) cannot read its ranking in order: it would walk the whole kind.
It finds the artifacts through its filters' own indexes instead and sorts them. With the
kind in those indexes (``key, vstr, kind, artifact_id``), "label dataset = ds07 of kind
model" is a range of index entries holding the artifact ids, not every model's or every
ds07's rows. The save path fills the column with the artifact row.

On SQLite, ``artifact_labels`` and ``artifact_metrics`` become WITHOUT ROWID tables: the
row lives in the primary key's B-tree, so checking one artifact's label or reading its
metric is one lookup, not two (the key's index, then the row). A ranking walk does that for
every row it reads. SQLite cannot change a table's storage in place, so both are rebuilt,
with the kind backfilled on the way; PostgreSQL only gains the column.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.String(64)
TIME = sa.String(32)


def _fk() -> sa.ForeignKey:
    return sa.ForeignKey("artifacts.artifact_id", ondelete="CASCADE")


def _label_columns() -> list[Any]:
    return [
        sa.Column("artifact_id", ID, _fk(), primary_key=True),
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("vtype", sa.String(1), nullable=False),
        sa.Column("vstr", sa.Text()),
        sa.Column("vnum", sa.Float()),
        sa.Column("kind", sa.Text()),
    ]


def _metric_columns() -> list[Any]:
    return [
        sa.Column("artifact_id", ID, _fk(), primary_key=True),
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("kind", sa.Text()),
        sa.Column("created_at", TIME),
    ]


def _rebuild(table: str, columns: list[Any], select_sql: str) -> None:
    """Recreate ``table`` WITHOUT ROWID from ``select_sql`` (SQLite only)."""
    op.create_table(f"{table}_new", *columns, sqlite_with_rowid=False)
    op.execute(f"INSERT INTO {table}_new {select_sql}")
    op.drop_table(table)
    op.rename_table(f"{table}_new", table)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_artifact_labels_str", "artifact_labels")
        op.drop_index("ix_artifact_labels_num", "artifact_labels")
        op.drop_index("ix_artifact_metrics_value", "artifact_metrics")
        op.drop_index("ix_artifact_metrics_rank", "artifact_metrics")
        # In primary-key order: the new B-tree is written left to right.
        _rebuild(
            "artifact_labels",
            _label_columns(),
            "SELECT l.artifact_id, l.key, l.vtype, l.vstr, l.vnum, a.kind "
            "FROM artifact_labels AS l LEFT JOIN artifacts AS a USING (artifact_id) "
            "ORDER BY l.artifact_id, l.key",
        )
        _rebuild(
            "artifact_metrics",
            _metric_columns(),
            "SELECT artifact_id, name, value, kind, created_at FROM artifact_metrics "
            "ORDER BY artifact_id, name",
        )
        # The rebuilt table's planner statistics went with the old one: the next search
        # gathers them again (``stats``: no watermark means never analysed).
        op.execute("DELETE FROM search_watermarks WHERE name = 'statistics'")
        op.create_index("ix_artifact_metrics_value", "artifact_metrics", ["name", "value"])
        op.create_index(
            "ix_artifact_metrics_rank",
            "artifact_metrics",
            ["name", "kind", "value", "created_at", "artifact_id"],
        )
    else:
        op.add_column("artifact_labels", sa.Column("kind", sa.Text()))
        op.execute(
            "UPDATE artifact_labels SET kind = a.kind FROM artifacts AS a "
            "WHERE a.artifact_id = artifact_labels.artifact_id"
        )
        op.drop_index("ix_artifact_labels_str", "artifact_labels")
        op.drop_index("ix_artifact_labels_num", "artifact_labels")
    op.add_column("artifact_tags", sa.Column("kind", sa.Text()))
    # UPDATE ... FROM: both SQLite (3.33+) and PostgreSQL; one join, not a lookup a row.
    op.execute(
        "UPDATE artifact_tags SET kind = a.kind FROM artifacts AS a "
        "WHERE a.artifact_id = artifact_tags.artifact_id"
    )
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
    op.drop_column("artifact_tags", "kind")
    # The label and metric tables keep their storage; only the column and indexes go.
    op.create_index("ix_artifact_labels_num", "artifact_labels", ["key", "vnum"])
    op.create_index("ix_artifact_labels_str", "artifact_labels", ["key", "vstr"])
    op.drop_column("artifact_labels", "kind")
