"""The named lease that makes one process the scheduler's leader."""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from bot.store.models import SchedulerLease, utcnow

_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


def acquire_lease(
    *, engine: Engine, name: str, holder: str, duration: timedelta, now: datetime | None = None
) -> bool:
    """Take or renew a named lease; True when `holder` has it until now + duration.
    It commits on its own: the other processes read the lease to know who leads."""
    now = now or utcnow()
    with Session(engine) as session:
        renewed = session.execute(
            sa.update(SchedulerLease)
            .where(
                col(SchedulerLease.name) == name,
                sa.or_(col(SchedulerLease.holder) == holder, col(SchedulerLease.lease_until) < now),
            )
            .values(holder=holder, lease_until=now + duration)
        )
        if getattr(renewed, "rowcount", 0) == 1:
            session.commit()
            return True
        if session.get(SchedulerLease, name) is not None:
            return False
        session.add(SchedulerLease(name=name, holder=holder, lease_until=now + duration))
        try:
            session.commit()
        except IntegrityError:
            return False
        return True


def release_lease(*, engine: Engine, name: str, holder: str) -> None:
    """Give a lease up at once (on a clean shutdown); it commits on its own, so another
    process can lead without waiting for the lease to run out."""
    with Session(engine) as session:
        session.execute(
            sa.update(SchedulerLease)
            .where(col(SchedulerLease.name) == name, col(SchedulerLease.holder) == holder)
            .values(lease_until=_LONG_AGO)
        )
        session.commit()
