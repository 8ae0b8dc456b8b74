"""runtime: requests stored before the ack, post claims that name their process

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("thread_key", sa.String(length=100), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("leased_by", sa.String(length=100), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_inbound_event_claim", "inbound_event", ["status", "available_at"])
    for table in ("message", "scheduled_post"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("post_claimed_by", sa.String(length=100), nullable=True))
    op.create_index("ix_pending_work_finished", "pending_work", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_pending_work_finished", table_name="pending_work")
    for table in ("scheduled_post", "message"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("post_claimed_by")
    op.drop_index("ix_inbound_event_claim", table_name="inbound_event")
    op.drop_table("inbound_event")
