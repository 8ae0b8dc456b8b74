"""slack-native: where a turn streams its preview

Revision ID: 0008
Revises: 0003
Create Date: 2026-11-26 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pending_work", schema=None) as batch_op:
        batch_op.add_column(sa.Column("preview_ts", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pending_work", schema=None) as batch_op:
        batch_op.drop_column("preview_ts")
