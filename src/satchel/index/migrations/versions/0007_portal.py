"""Indexes of the portal: an organisation's kinds, and a user's uploads in progress.

``ix_artifacts_org_kind (org_id, kind)``:
The portal's type filter offers the kinds a reader can see. With this index they are a
loose index scan per organisation (one probe per kind), whatever the number of artifacts;
without it, finding that a reader sees no artifact of a kind another organisation holds
thousands of means reading every one of them.

``ix_artifacts_pending (user_id, created_at) WHERE status = 'pending'``: the list page shows
its caller's uploads in progress; without it, finding that there are none reads every row
of the table. Partial, so it holds the pending rows only and costs completed saves nothing.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_artifacts_org_kind", "artifacts", ["org_id", "kind"])
    op.create_index(
        "ix_artifacts_pending",
        "artifacts",
        ["user_id", "created_at"],
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_artifacts_pending", table_name="artifacts")
    op.drop_index("ix_artifacts_org_kind", table_name="artifacts")
