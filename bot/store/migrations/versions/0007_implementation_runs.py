"""implementation runs: Claude Code jobs per conversation, and channels that allow them

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "implementation_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("repo", sa.String(length=40), nullable=False),
        sa.Column("branch", sa.String(length=200), nullable=False),
        sa.Column("base_branch", sa.String(length=200), nullable=True),
        sa.Column("requested_by", sa.String(length=32), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("thread_url", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("stop_requested_by", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("leased_by", sa.String(length=100), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("head_commit", sa.String(length=64), nullable=True),
        sa.Column("pr_number", sa.Integer(), nullable=True),
        sa.Column("pr_url", sa.String(length=500), nullable=True),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("tests_run", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("implementation_run", schema=None) as batch_op:
        batch_op.create_index("ix_implementation_run_claim", ["status", "id"], unique=False)
        batch_op.create_index(
            "ix_implementation_run_conversation", ["conversation_id", "id"], unique=False
        )
    op.create_table(
        "implement_channel",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "channel_id"),
    )


def downgrade() -> None:
    op.drop_table("implement_channel")
    with op.batch_alter_table("implementation_run", schema=None) as batch_op:
        batch_op.drop_index("ix_implementation_run_conversation")
        batch_op.drop_index("ix_implementation_run_claim")
    op.drop_table("implementation_run")
