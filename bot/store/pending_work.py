"""Agent turns waiting to run: queued, cancelled, counted, and where the chat shows one live.
Their claims and leases are in queue.py."""

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bot.store.models import PendingWork, WorkStatus, utcnow


def enqueue_turn(
    *, session: Session, conversation_id: int, message_id: int | None = None, new: bool = False
) -> PendingWork:
    """Queue an agent turn; at most one queued turn per conversation (later messages join it).
    `new`: the conversation was created in this transaction, so nothing of it is queued yet."""
    queued = (
        None
        if new
        else session.exec(
            select(PendingWork).where(
                PendingWork.conversation_id == conversation_id,
                PendingWork.status == WorkStatus.QUEUED,
            )
        ).first()
    )
    if queued is not None:
        return queued
    work = PendingWork(conversation_id=conversation_id, message_id=message_id)
    session.add(work)
    session.flush()
    return work


def cancel_work(*, session: Session, conversation_id: int) -> int:
    """Cancel every queued turn of a conversation; returns how many."""
    queued = session.exec(
        select(PendingWork).where(
            PendingWork.conversation_id == conversation_id,
            PendingWork.status == WorkStatus.QUEUED,
        )
    ).all()
    for work in queued:
        work.status = WorkStatus.CANCELLED
        work.finished_at = utcnow()
    return len(queued)


def unfinished_work_count(*, session: Session) -> int:
    """Turns queued or running (including ones a crashed worker left behind)."""
    count = session.exec(
        select(sa.func.count())
        .select_from(PendingWork)
        .where(col(PendingWork.status).in_([WorkStatus.QUEUED, WorkStatus.RUNNING]))
    ).one()
    return int(count)


def remember_preview(*, session: Session, work_id: int, handle: str) -> None:
    """Keep where the chat shows a turn live, so its reply can take that place."""
    work = session.get(PendingWork, work_id)
    if work is not None and work.preview_ts is None:
        work.preview_ts = handle
        session.add(work)


def preview_of(*, session: Session, work_id: int) -> str | None:
    """Where the chat shows a turn live, if it does."""
    work = session.get(PendingWork, work_id)
    return work.preview_ts if work is not None else None
