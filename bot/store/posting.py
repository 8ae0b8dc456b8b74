"""The outbox's rows, replies and scheduler posts: read while pending, claimed across
processes, released after a failed post, marked posted."""

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.store.models import Message, PostState, ScheduledPost, utcnow


def outbox(*, session: Session, conversation_id: int | None = None) -> Sequence[Message]:
    """Replies stored but not yet posted, oldest first."""
    query = select(Message).where(Message.post_state == PostState.PENDING)
    if conversation_id is not None:
        query = query.where(Message.conversation_id == conversation_id)
    return session.exec(query.order_by(col(Message.id))).all()


def pending_scheduled_posts(*, session: Session) -> Sequence[ScheduledPost]:
    """Scheduler posts (digests) stored but not yet posted."""
    return session.exec(
        select(ScheduledPost)
        .where(ScheduledPost.post_state == PostState.PENDING)
        .order_by(col(ScheduledPost.id))
    ).all()


def claim_post(
    *,
    engine: Engine,
    row: Message | ScheduledPost,
    worker: str,
    stale_after: timedelta,
    is_dead: Callable[[str], bool] = lambda _holder: False,
) -> tuple[bool, datetime | None]:
    """Claim the posting of an outbox row, as the outbox read it, across processes.

    Returns whether this process may post it, and when an earlier attempt started (None for
    the first attempt). An earlier attempt is taken to have died when its process is known
    to be dead, or when it is older than `stale_after`. The claim holds only if nobody
    claimed or posted the row since it was read. It commits on its own, before the post:
    another process must see the claim while this one posts.
    """
    now = utcnow()
    previous, holder = row.post_attempted_at, row.post_claimed_by
    if (
        previous is not None
        and now - previous < stale_after
        and holder is not None
        and not is_dead(holder)
    ):
        return False, None  # another process is posting it right now
    table = type(row)
    attempted = col(table.post_attempted_at)
    with Session(engine) as session:
        claimed = session.execute(
            sa.update(table)
            .where(
                col(table.id) == row.id,
                col(table.post_state) == PostState.PENDING,
                attempted.is_(None) if previous is None else attempted == previous,
            )
            .values(post_attempted_at=now, post_claimed_by=worker)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            return False, None
        session.commit()
        return True, previous


def release_post(
    *, session: Session, table: type[Message] | type[ScheduledPost], row_id: int
) -> None:
    """After a failed attempt: let the next flush claim the row at once (it still checks for
    a copy that did get through, since the attempt is remembered)."""
    session.execute(
        sa.update(table)
        .where(col(table.id) == row_id, col(table.post_state) == PostState.PENDING)
        .values(post_claimed_by=None)
    )


def mark_posted(
    *,
    session: Session,
    table: type[Message] | type[ScheduledPost],
    row_id: int,
    ts: str | None,
    revision: int | None = None,
) -> None:
    """Record that a reply (or a scheduler post) reached the chat, with its chat timestamp.

    A message edited in place (the card) counts as posted only for the `revision` that was
    sent; when it changed meanwhile it stays in the outbox, unclaimed, to be edited again.
    """
    values: dict[str, object] = {"post_state": PostState.POSTED, "slack_ts": ts}
    if table is not Message:
        session.execute(sa.update(table).where(col(table.id) == row_id).values(**values))
        return
    values["posted_at"] = utcnow()
    query = sa.update(Message).where(col(Message.id) == row_id)
    if revision is None:
        session.execute(query.values(**values))
        return
    done = session.execute(query.where(col(Message.revision) == revision).values(**values))
    if getattr(done, "rowcount", 0) != 1:
        session.execute(query.values(slack_ts=ts, post_claimed_by=None))
