"""The kinds of an organisation's artifacts, through an index: ``(org_id, kind)``.

The portal's type filter offers the kinds a reader can see. With this index they are a
loose index scan per organisation (one probe per kind), whatever the number of artifacts;
without it, finding that a reader sees no artifact of a kind another organisation holds
thousands of means reading every one of them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_artifacts_org_kind", "artifacts", ["org_id", "kind"])


def downgrade() -> None:
    op.drop_index("ix_artifacts_org_kind", table_name="artifacts")
