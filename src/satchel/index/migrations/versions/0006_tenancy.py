"""Tenancy: orgs, users, API tokens and sharing grants, in the same database as the
artifacts, so that listing and search filter on what a reader may read in one statement;
an index for listing runs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.String(64)
TIME = sa.String(32)


def upgrade() -> None:
    # Run listings, newest started first, with keyset paging.
    op.create_index("ix_runs_started", "runs", ["started_at", "run_id"])
    op.create_table(
        "orgs",
        sa.Column("org_id", ID, primary_key=True),
        sa.Column("name", sa.Text(), nullable=False, unique=True),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("email", sa.Text(), nullable=False, unique=True),
        sa.Column("org_id", ID, sa.ForeignKey("orgs.org_id"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("display_name", sa.Text()),
        sa.Column("password_hash", sa.Text()),
        sa.Column("created_at", TIME, nullable=False),
        sa.CheckConstraint("role IN ('member', 'admin')", name="ck_users_role"),
    )
    op.create_index("ix_users_org", "users", ["org_id"])
    op.create_table(
        "tokens",
        sa.Column("token_id", ID, primary_key=True),
        sa.Column(
            "user_id", ID, sa.ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("run_id", ID),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME),
        sa.Column("last_used_at", TIME),
        sa.Column("revoked_at", TIME),
    )
    op.create_index("ix_tokens_user", "tokens", ["user_id"])
    op.create_table(
        "grants",
        sa.Column("grant_id", ID, primary_key=True),
        sa.Column(
            "artifact_id",
            ID,
            sa.ForeignKey("artifacts.artifact_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("recipient_email", sa.Text()),
        sa.Column("recipient_org_id", ID, sa.ForeignKey("orgs.org_id", ondelete="CASCADE")),
        sa.Column("granted_by", ID, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.CheckConstraint(
            "(recipient_email IS NULL) <> (recipient_org_id IS NULL)",
            name="ck_grants_one_recipient",
        ),
        sa.UniqueConstraint("artifact_id", "recipient_email", name="uq_grants_email"),
        sa.UniqueConstraint("artifact_id", "recipient_org_id", name="uq_grants_org"),
    )
    op.create_index("ix_grants_email", "grants", ["recipient_email", "artifact_id"])
    op.create_index("ix_grants_org", "grants", ["recipient_org_id", "artifact_id"])


def downgrade() -> None:
    for table in ("grants", "tokens", "users", "orgs"):
        op.drop_table(table)
    op.drop_index("ix_runs_started", "runs")
