"""Implementation runs: stored, read back, stopped and finished (their claims are in
queue.py)."""

from collections.abc import Sequence

from sqlmodel import Session, col, select

from bot.store.models import (
    ACTIVE_IMPLEMENTATION_STATUSES,
    ImplementationRun,
    ImplementationStatus,
    utcnow,
)


def add_implementation_run(*, session: Session, run: ImplementationRun) -> ImplementationRun:
    """Store a new implementation run (queued)."""
    session.add(run)
    session.flush()
    return run


def implementation_runs(*, session: Session, conversation_id: int) -> Sequence[ImplementationRun]:
    """A conversation's implementation runs, oldest first."""
    return session.exec(
        select(ImplementationRun)
        .where(ImplementationRun.conversation_id == conversation_id)
        .order_by(col(ImplementationRun.id))
    ).all()


def active_implementation_run(
    *, session: Session, conversation_id: int
) -> ImplementationRun | None:
    """The conversation's queued or running implementation run, if any."""
    return session.exec(
        select(ImplementationRun)
        .where(
            ImplementationRun.conversation_id == conversation_id,
            col(ImplementationRun.status).in_(ACTIVE_IMPLEMENTATION_STATUSES),
        )
        .order_by(col(ImplementationRun.id))
    ).first()


def pull_request_run(*, session: Session, conversation_id: int) -> ImplementationRun | None:
    """The conversation's latest run that opened or updated its pull request."""
    return session.exec(
        select(ImplementationRun)
        .where(
            ImplementationRun.conversation_id == conversation_id,
            col(ImplementationRun.pr_url).is_not(None),
        )
        .order_by(col(ImplementationRun.id).desc())
    ).first()


def finish_implementation_run(
    *, session: Session, run_id: int, status: ImplementationStatus, outcome: str
) -> ImplementationRun | None:
    """Close a run with what came of it."""
    run = session.get(ImplementationRun, run_id)
    if run is None:
        return None
    run.status = status
    run.outcome = outcome
    run.finished_at = utcnow()
    run.lease_until = None
    return run


def request_implementation_stop(
    *, session: Session, conversation_id: int, by: str
) -> ImplementationRun | None:
    """Ask the conversation's active run to stop; a queued one is cancelled at once."""
    run = active_implementation_run(session=session, conversation_id=conversation_id)
    if run is None:
        return None
    run.stop_requested_by = by
    if run.status is ImplementationStatus.QUEUED:
        run.status = ImplementationStatus.CANCELLED
        run.outcome = f"Stopped by {by} before it started."
        run.finished_at = utcnow()
    return run
