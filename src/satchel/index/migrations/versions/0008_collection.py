"""Garbage collection and retention: the record of blobs deleted while saves may be in
flight, and retention policies.

``blob_deletions (sha256, deleted_at)``: a collection (``satchel gc``, or a delete removing
the blobs only its artifact used) records each digest here in the transaction that checked
nothing references it, and removes the blob before that transaction commits. A save
whose blob was found already stored before the deletion checks this table when it
commits, so it never acknowledges a reference to a blob that is gone. Rows older than the
collection's grace period are purged.

``retention_policies``: what ``satchel gc`` expires (keep-last-N, keep-best-K by a metric,
time-to-live), per kind and/or run, within an organisation; pinned artifacts are never
expired.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = sa.String(64)
TIME = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "blob_deletions",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("deleted_at", TIME, nullable=False),
    )
    op.create_index("ix_blob_deletions_at", "blob_deletions", ["deleted_at"])
    op.create_table(
        "retention_policies",
        sa.Column("policy_id", ID, primary_key=True),
        sa.Column("org_id", ID),
        sa.Column("name", sa.Text()),
        sa.Column("kind", sa.Text()),
        sa.Column("run_id", ID),
        sa.Column("group_by", sa.String(16), nullable=False),
        sa.Column("keep_last", sa.Integer()),
        sa.Column("keep_best", sa.Integer()),
        sa.Column("metric", sa.Text()),
        sa.Column("metric_mode", sa.String(8)),
        sa.Column("ttl_seconds", sa.BigInteger()),
        sa.Column("created_by", ID),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_index("ix_retention_policies_org", "retention_policies", ["org_id"])


def downgrade() -> None:
    op.drop_index("ix_retention_policies_org", table_name="retention_policies")
    op.drop_table("retention_policies")
    op.drop_index("ix_blob_deletions_at", table_name="blob_deletions")
    op.drop_table("blob_deletions")
