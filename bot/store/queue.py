"""Leased work: agent turns, stored inbound requests and implementation runs, each claimed by
one process at a time. The one place where rows are claimed, renewed, handed back and closed.

A claim is a conditional UPDATE (atomic on SQLite and PostgreSQL alike; on PostgreSQL the
candidate read skips rows other workers hold). A holder renews its short lease while it
works, hands rows back at once when it stops, and rows held by a dead process are taken
back as soon as that is known (at start on the same host) or when the lease runs out.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from bot.store.models import (
    Conversation,
    ImplementationRun,
    InboundEvent,
    LeaseState,
    PendingWork,
    WorkStatus,
    utcnow,
)

Leased = type[PendingWork] | type[InboundEvent] | type[ImplementationRun]


@dataclass(frozen=True)
class FairShare:
    """Most turns one person, or one channel, may have running at once (0 = no cap)."""

    per_user: int = 0
    per_channel: int = 0


def _claimable(table: Leased, now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        sa.or_(
            col(table.status) == LeaseState.QUEUED,
            sa.and_(col(table.status) == LeaseState.RUNNING, col(table.lease_until) < now),
        ),
        col(cast(Any, table).available_at) <= now if _delays(table) else sa.true(),
    )


def _delays(table: Leased) -> bool:
    """Whether the table holds rows back until `available_at` (turns and requests do)."""
    return "available_at" in table.model_fields


def _running(table: Leased, now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(col(table.status) == LeaseState.RUNNING, col(table.lease_until) >= now)


def _take(
    session: Session,
    table: Leased,
    candidates: Iterable[int],
    *guards: sa.ColumnElement[bool],
    worker: str,
    lease: timedelta,
    now: datetime,
    **values: object,
) -> list[int]:
    """Lease every candidate still claimable and passing `guards` (setting `values` besides),
    in one statement; the ids taken."""
    ids = list(candidates)
    if not ids:
        session.commit()
        return []
    taken = session.execute(
        sa.update(table)
        .where(col(table.id).in_(ids), _claimable(table, now), *guards)
        .values(
            status=LeaseState.RUNNING,
            leased_by=worker,
            lease_until=now + lease,
            attempts=col(table.attempts) + 1,
            **values,
        )
        .returning(col(table.id))
    ).scalars()
    result = sorted(int(row_id) for row_id in taken)
    session.commit()
    return result


def _candidates(limit: int) -> int:
    """How many rows to read to fill `limit` slots (some are skipped in Python)."""
    return max(20, 2 * limit)


def claim_turn(
    *,
    engine: Engine,
    worker: str,
    lease: timedelta,
    fair: FairShare = FairShare(),
    conversation_id: int | None = None,
    now: datetime | None = None,
) -> PendingWork | None:
    """Take the oldest turn that may run now (see `claim_turns`)."""
    taken = claim_turns(
        engine=engine,
        worker=worker,
        lease=lease,
        fair=fair,
        conversation_id=conversation_id,
        now=now,
        limit=1,
    )
    return taken[0] if taken else None


def claim_turns(
    *,
    engine: Engine,
    worker: str,
    lease: timedelta,
    limit: int,
    fair: FairShare = FairShare(),
    conversation_id: int | None = None,
    now: datetime | None = None,
) -> list[PendingWork]:
    """Take up to `limit` of the oldest turns that may run now, in one transaction: each
    one's conversation has no running turn, and neither its requester nor its channel is at
    their cap (counting the turns taken together)."""
    now = now or utcnow()
    running = (
        select(PendingWork.conversation_id).where(_running(PendingWork, now)).scalar_subquery()
    )
    query = (
        select(
            col(PendingWork.id),
            col(PendingWork.conversation_id),
            col(Conversation.requester_id),
            col(Conversation.channel_id),
        )
        .join(Conversation, col(Conversation.id) == col(PendingWork.conversation_id))
        .where(_claimable(PendingWork, now), col(PendingWork.conversation_id).not_in(running))
        .order_by(col(PendingWork.id))
        .limit(_candidates(limit))
    )
    for column, cap in (
        (Conversation.requester_id, fair.per_user),
        (Conversation.channel_id, fair.per_channel),
    ):
        if cap > 0:
            query = query.where(col(column).not_in(_busy(column, cap, now)))
    if conversation_id is not None:
        query = query.where(col(PendingWork.conversation_id) == conversation_id)
    if engine.dialect.name == "postgresql":
        query = query.with_for_update(of=PendingWork, skip_locked=True)
    with Session(engine, expire_on_commit=False) as session:
        rows = session.exec(query).all()
        if not rows:  # nothing may run now: no need to count who runs what
            session.commit()
            return []
        users = _running_counts(session, Conversation.requester_id, now) if fair.per_user else {}
        places = _running_counts(session, Conversation.channel_id, now) if fair.per_channel else {}
        chosen: list[int] = []
        conversations: set[int] = set()
        for work_id, conversation, user, channel in rows:
            if work_id is None or len(chosen) >= limit or conversation in conversations:
                continue
            if fair.per_user and users.get(user, 0) >= fair.per_user:
                continue
            if fair.per_channel and places.get(channel, 0) >= fair.per_channel:
                continue
            chosen.append(work_id)
            conversations.add(conversation)
            users[user] = users.get(user, 0) + 1
            places[channel] = places.get(channel, 0) + 1
        taken = _take(session, PendingWork, chosen, worker=worker, lease=lease, now=now)
        if not taken:
            return []
        return list(
            session.exec(
                select(PendingWork)
                .where(col(PendingWork.id).in_(taken))
                .order_by(col(PendingWork.id))
            ).all()
        )


def _busy(column: str, cap: int, now: datetime) -> sa.ScalarSelect[str]:
    """Requesters (or channels) already running `cap` turns."""
    return (
        select(col(column))
        .select_from(PendingWork)
        .join(Conversation, col(Conversation.id) == col(PendingWork.conversation_id))
        .where(_running(PendingWork, now))
        .group_by(column)
        .having(sa.func.count() >= cap)
        .scalar_subquery()
    )


def _running_counts(session: Session, column: str, now: datetime) -> dict[str, int]:
    """Running turns per requester (or per channel)."""
    rows = session.exec(
        select(col(column), sa.func.count())
        .select_from(PendingWork)
        .join(Conversation, col(Conversation.id) == col(PendingWork.conversation_id))
        .where(_running(PendingWork, now))
        .group_by(column)
    ).all()
    return {str(key): int(count) for key, count in rows}


def claim_inbound(
    *, engine: Engine, worker: str, lease: timedelta, now: datetime | None = None
) -> InboundEvent | None:
    """Take the oldest stored request that may be taken in now (see `claim_inbounds`)."""
    taken = claim_inbounds(engine=engine, worker=worker, lease=lease, now=now, limit=1)
    return taken[0] if taken else None


def claim_inbounds(
    *, engine: Engine, worker: str, lease: timedelta, limit: int, now: datetime | None = None
) -> list[InboundEvent]:
    """Take up to `limit` of the oldest stored requests, in one transaction, never two of one
    thread, nor one whose thread has another request being taken in."""
    now = now or utcnow()
    busy = select(InboundEvent.thread_key).where(_running(InboundEvent, now)).scalar_subquery()
    query = (
        select(col(InboundEvent.id), col(InboundEvent.thread_key))
        .where(_claimable(InboundEvent, now))
        .where(
            sa.or_(col(InboundEvent.thread_key) == "", col(InboundEvent.thread_key).not_in(busy))
        )
        .order_by(col(InboundEvent.id))
        .limit(_candidates(limit))
    )
    if engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    with Session(engine, expire_on_commit=False) as session:
        chosen: list[int] = []
        threads: set[str] = set()
        for row_id, thread_key in session.exec(query).all():
            if row_id is None or len(chosen) >= limit or (thread_key and thread_key in threads):
                continue
            chosen.append(row_id)
            if thread_key:
                threads.add(thread_key)
        taken = _take(session, InboundEvent, chosen, worker=worker, lease=lease, now=now)
        if not taken:
            return []
        return list(
            session.exec(
                select(InboundEvent)
                .where(col(InboundEvent.id).in_(taken))
                .order_by(col(InboundEvent.id))
            ).all()
        )


def claim_run(
    *, engine: Engine, worker: str, lease: timedelta, now: datetime | None = None
) -> ImplementationRun | None:
    """Take the oldest queued implementation run, or a running one whose worker died (lease
    expired), never a second run of one conversation, nor a later one before an earlier.

    Each candidate's conversation row is locked before the guarded claim (PostgreSQL), so two
    processes reaching for two runs of one conversation at once take turns, and the second
    sees the first one's run running."""
    now = now or utcnow()
    earlier = aliased(ImplementationRun)
    query = (
        select(col(ImplementationRun.id), col(ImplementationRun.conversation_id))
        .where(_claimable(ImplementationRun, now))
        .where(col(ImplementationRun.conversation_id).not_in(_running_runs(now)))
        .where(  # a conversation's runs go in the order they were asked for
            ~sa.exists().where(
                col(earlier.conversation_id) == col(ImplementationRun.conversation_id),
                col(earlier.id) < col(ImplementationRun.id),
                col(earlier.status).in_([LeaseState.QUEUED, LeaseState.RUNNING]),
            )
        )
        .order_by(col(ImplementationRun.id))
        .limit(5)
    )
    if engine.dialect.name == "postgresql":
        query = query.with_for_update(of=ImplementationRun, skip_locked=True)
    with Session(engine, expire_on_commit=False) as session:
        for run_id, conversation_id in session.exec(query).all():
            if run_id is None:
                continue
            session.exec(
                select(Conversation.id).where(Conversation.id == conversation_id).with_for_update()
            ).all()
            taken = _take(
                session,
                ImplementationRun,
                [run_id],
                col(ImplementationRun.conversation_id).not_in(_running_runs(now)),
                worker=worker,
                lease=lease,
                now=now,
                started_at=sa.func.coalesce(col(ImplementationRun.started_at), now),
            )
            if taken:
                return session.get(ImplementationRun, run_id)
        session.commit()
    return None


def _running_runs(now: datetime) -> sa.ScalarSelect[int]:
    """The conversations with an implementation run going."""
    return (
        select(ImplementationRun.conversation_id)
        .where(_running(ImplementationRun, now))
        .scalar_subquery()
    )


def finish(
    *,
    session: Session,
    table: Leased,
    row_id: int,
    status: WorkStatus,
    error: str | None = None,
    worker: str | None = None,
) -> bool:
    """Close a claimed row; with `worker`, only while that worker still holds it (a turn
    handed back at shutdown, or taken over after its lease ran out, is not closed twice)."""
    held = [col(table.id) == row_id]
    if worker is not None:
        held += [col(table.leased_by) == worker, col(table.status) == LeaseState.RUNNING]
    closed = session.execute(
        sa.update(table)
        .where(*held)
        .values(status=status, last_error=error, finished_at=utcnow(), lease_until=None)
    )
    return int(getattr(closed, "rowcount", 0)) == 1


def retry_later(
    *, engine: Engine, table: Leased, row_id: int, worker: str, error: str, delay: timedelta
) -> bool:
    """Queue a row `worker` holds again after `delay` (its attempt stays counted); False when
    the worker no longer holds it."""
    requeued = _requeue(
        engine,
        table,
        col(table.id) == row_id,
        col(table.leased_by) == worker,
        last_error=error,
        available_at=utcnow() + delay,
    )
    return requeued == 1


def _requeue(engine: Engine, table: Leased, *held: sa.ColumnElement[bool], **values: object) -> int:
    """Queue the running rows matching `held` again, at once (with `values` besides); how
    many."""
    if _delays(table):
        values.setdefault("available_at", utcnow())
    with Session(engine) as session:
        result = session.execute(
            sa.update(table)
            .where(col(table.status) == LeaseState.RUNNING, *held)
            .values(status=LeaseState.QUEUED, leased_by=None, lease_until=None, **values)
        )
        session.commit()
        return int(getattr(result, "rowcount", 0))


def renew(
    *, engine: Engine, table: Leased, worker: str, row_ids: Iterable[int], lease: timedelta
) -> int:
    """Extend the leases `worker` holds on these rows; returns how many it still holds."""
    ids = list(row_ids)
    if not ids:
        return 0
    with Session(engine) as session:
        result = session.execute(
            sa.update(table)
            .where(
                col(table.id).in_(ids),
                col(table.leased_by) == worker,
                col(table.status) == LeaseState.RUNNING,
            )
            .values(lease_until=utcnow() + lease)
        )
        session.commit()
        return int(getattr(result, "rowcount", 0))


def hand_back(*, engine: Engine, table: Leased, worker: str, row_id: int | None = None) -> int:
    """Give every row `worker` holds (or just `row_id`) back to the queue at once (a clean
    shutdown); the interrupted attempt does not count against the row's attempts."""
    held = [col(table.leased_by) == worker]
    if row_id is not None:
        held.append(col(table.id) == row_id)
    return _requeue(
        engine,
        table,
        *held,
        attempts=sa.case((col(table.attempts) > 0, col(table.attempts) - 1), else_=0),
    )


def reclaim_dead(*, engine: Engine, table: Leased, is_dead: Callable[[str], bool]) -> int:
    """Queue again at once the rows held by processes known to be dead."""
    with Session(engine) as session:
        holders = session.exec(
            select(table.leased_by)
            .where(col(table.status) == LeaseState.RUNNING, col(table.leased_by).is_not(None))
            .distinct()
        ).all()
    dead = [holder for holder in holders if holder and is_dead(holder)]
    if not dead:
        return 0
    return _requeue(engine, table, col(table.leased_by).in_(dead))


def turns_ahead(*, session: Session, work_id: int) -> int:
    """How many turns queued before this one have not started yet."""
    count = session.exec(
        select(sa.func.count())
        .select_from(PendingWork)
        .where(PendingWork.status == WorkStatus.QUEUED, col(PendingWork.id) < work_id)
    ).one()
    return int(count)


def unfinished_inbound_count(*, session: Session) -> int:
    """Stored requests not yet taken in."""
    count = session.exec(
        select(sa.func.count())
        .select_from(InboundEvent)
        .where(col(InboundEvent.status).in_([WorkStatus.QUEUED, WorkStatus.RUNNING]))
    ).one()
    return int(count)
