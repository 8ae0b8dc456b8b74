"""How many turns wait and run, read for the metrics endpoint."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.store.models import PendingWork, WorkStatus, utcnow


@dataclass(frozen=True)
class QueueStats:
    """Turns queued and running across every process, and how long the oldest has waited."""

    queued: int
    running: int
    oldest_wait_seconds: float


def queue_stats(*, engine: Engine, now: datetime | None = None) -> QueueStats:
    """Counts of queued and running turns (all processes share the table)."""
    now = now or utcnow()
    with Session(engine) as session:
        counts = dict(
            session.exec(
                select(col(PendingWork.status), sa.func.count())
                .where(col(PendingWork.status).in_([WorkStatus.QUEUED, WorkStatus.RUNNING]))
                .group_by(col(PendingWork.status))
            ).all()
        )
        oldest = session.exec(
            select(sa.func.min(col(PendingWork.available_at))).where(
                col(PendingWork.status) == WorkStatus.QUEUED,
                col(PendingWork.available_at) <= now,
            )
        ).one()
    wait = 0.0
    if oldest is not None:
        wait = max(0.0, (now - oldest).total_seconds())
    return QueueStats(
        queued=int(counts.get(WorkStatus.QUEUED, 0)),
        running=int(counts.get(WorkStatus.RUNNING, 0)),
        oldest_wait_seconds=wait,
    )
