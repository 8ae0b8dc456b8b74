"""channel spend index: a channel's conversations by when they last changed

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 16:20:00

With a channel budget, every turn sums its channel's spend this month; without this index
that walked every conversation the channel ever had (bench/scale.py: 482 ms a message at
1,000,000 conversations against 82 ms at 1,000).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversation_channel_updated",
            ["team_id", "channel_id", "updated_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_channel_updated")
