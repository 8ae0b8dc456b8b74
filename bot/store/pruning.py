"""Forgetting what is only kept for a while: seen-event keys, finished turns and requests."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.store.models import InboundEvent, PendingWork, SeenEvent, WorkStatus

_FINISHED = (WorkStatus.DONE, WorkStatus.FAILED, WorkStatus.CANCELLED)


def prune(*, engine: Engine, before: datetime, batch: int = 1000) -> dict[str, int]:
    """Delete seen-event keys, finished turns and taken-in requests older than `before`,
    `batch` rows per statement so no statement holds the tables for long. Each batch commits
    on its own: one transaction for them all would hold the tables as long as the pruning."""
    removed: dict[str, int] = {}
    targets: list[tuple[str, Any, Any, sa.ColumnElement[bool]]] = [
        ("seen_event", SeenEvent, SeenEvent.key, col(SeenEvent.created_at) < before),
        (
            "pending_work",
            PendingWork,
            PendingWork.id,
            sa.and_(col(PendingWork.status).in_(_FINISHED), col(PendingWork.finished_at) < before),
        ),
        (
            "inbound_event",
            InboundEvent,
            InboundEvent.id,
            sa.and_(
                col(InboundEvent.status).in_(_FINISHED), col(InboundEvent.finished_at) < before
            ),
        ),
    ]
    for name, table, key, old in targets:
        total = 0
        while True:
            with Session(engine) as session:
                ids = session.exec(select(key).where(old).limit(batch)).all()
                if not ids:
                    break
                session.execute(sa.delete(table).where(col(key).in_(ids)))
                session.commit()
            total += len(ids)
            if len(ids) < batch:
                break
        removed[name] = total
    return removed
