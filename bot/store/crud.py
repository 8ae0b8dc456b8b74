"""Queries and writes, as keyword-only functions over a session (or an engine, for claims)."""

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.accounting.tokens import TokenUsage
from bot.store.models import (
    ACTIVE_IMPLEMENTATION_STATUSES,
    OPEN_STATUSES,
    ChannelSetting,
    Conversation,
    ConversationStatus,
    ImplementationRun,
    ImplementationStatus,
    ImplementChannel,
    InboundEvent,
    Message,
    MessageKind,
    MessageRole,
    PendingWork,
    PostState,
    RouteExample,
    RoutingRecord,
    ScheduledPost,
    SchedulerLease,
    SeenEvent,
    WorkStatus,
    utcnow,
)


def mark_seen(*, session: Session, keys: Iterable[str]) -> bool:
    """Record event keys; False when any was already seen (a retry or a double delivery)."""
    keys = [key for key in dict.fromkeys(keys) if key]
    if not keys:
        return True
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    now = utcnow()
    added = session.execute(
        insert(SeenEvent)
        .values([{"key": key, "created_at": now} for key in keys])
        .on_conflict_do_nothing()
        .returning(col(SeenEvent.key))
    ).all()
    return len(added) == len(keys)


def find_conversation(
    *, session: Session, team_id: str, channel_id: str, thread_ts: str
) -> Conversation | None:
    """The conversation of a thread, if there is one."""
    return session.exec(
        select(Conversation).where(
            Conversation.team_id == team_id,
            Conversation.channel_id == channel_id,
            Conversation.thread_ts == thread_ts,
        )
    ).first()


def create_conversation(*, session: Session, conversation: Conversation) -> Conversation:
    """Insert a conversation, or return the one another worker created for the same thread."""
    try:
        with session.begin_nested():
            session.add(conversation)
    except IntegrityError:
        existing = find_conversation(
            session=session,
            team_id=conversation.team_id,
            channel_id=conversation.channel_id,
            thread_ts=conversation.thread_ts,
        )
        assert existing is not None
        return existing
    return conversation


def find_user_message(
    *, session: Session, team_id: str, channel_id: str, ts: str
) -> Message | None:
    """A person's stored message by its chat timestamp."""
    return session.exec(
        select(Message)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(
            Conversation.team_id == team_id,
            Conversation.channel_id == channel_id,
            Message.slack_ts == ts,
            Message.role == MessageRole.USER,
        )
    ).first()


def thread_messages(*, session: Session, conversation_id: int) -> Sequence[Message]:
    """Every message of a conversation, oldest first."""
    return session.exec(
        select(Message).where(Message.conversation_id == conversation_id).order_by(col(Message.id))
    ).all()


def add_message(*, session: Session, message: Message) -> Message:
    """Store a message and bump the conversation's activity time."""
    session.add(message)
    session.flush()
    conversation = session.get(Conversation, message.conversation_id)
    if conversation is not None:
        conversation.updated_at = utcnow()
        if message.kind not in (MessageKind.NOTICE, MessageKind.REMINDER):
            conversation.last_activity_at = conversation.updated_at
    return message


def add_assistant_message(
    *,
    session: Session,
    conversation_id: int,
    kind: MessageKind,
    text: str,
    payload: dict[str, Any] | None = None,
    author_name: str | None = None,
    model: str | None = None,
    usage: TokenUsage | None = None,
) -> Message:
    """Store a reply for the adapter to post (the outbox); it is never lost or posted twice."""
    usage = usage or TokenUsage()
    return add_message(
        session=session,
        message=Message(
            conversation_id=conversation_id,
            role=MessageRole.ASSISTANT,
            kind=kind,
            text=text,
            payload=payload,
            author_name=author_name,
            post_state=PostState.PENDING,
            model=model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
        ),
    )


def add_usage(*, conversation: Conversation, usage: TokenUsage) -> None:
    """Add a call's tokens to the conversation's totals."""
    conversation.input_tokens += usage.input_tokens
    conversation.output_tokens += usage.output_tokens
    conversation.cache_read_tokens += usage.cache_read_tokens
    conversation.cache_write_tokens += usage.cache_write_tokens


def set_status(
    *, conversation: Conversation, status: ConversationStatus, reason: str | None = None
) -> None:
    """Move a conversation to a status, keeping the waiting clock and failure reason right."""
    now = utcnow()
    if status is ConversationStatus.AWAITING_USER and (
        conversation.status is not ConversationStatus.AWAITING_USER
        or conversation.awaiting_since is None
    ):
        conversation.awaiting_since = now
        conversation.reminders_sent = 0
    elif status is not ConversationStatus.AWAITING_USER:
        conversation.awaiting_since = None
    conversation.status = status
    conversation.failure_reason = reason if status is ConversationStatus.FAILED else None
    conversation.updated_at = now


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


def outbox(*, session: Session, conversation_id: int | None = None) -> Sequence[Message]:
    """Replies stored but not yet posted, oldest first."""
    query = select(Message).where(Message.post_state == PostState.PENDING)
    if conversation_id is not None:
        query = query.where(Message.conversation_id == conversation_id)
    return session.exec(query.order_by(col(Message.id))).all()


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
    claimed or posted the row since it was read.
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
    *, engine: Engine, table: type[Message] | type[ScheduledPost], row_id: int
) -> None:
    """After a failed attempt: let the next flush claim the row at once (it still checks for
    a copy that did get through, since the attempt is remembered)."""
    with Session(engine) as session:
        session.execute(
            sa.update(table)
            .where(col(table.id) == row_id, col(table.post_state) == PostState.PENDING)
            .values(post_claimed_by=None)
        )
        session.commit()


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


def record_routing(*, session: Session, record: RoutingRecord) -> RoutingRecord:
    """Store one routing decision."""
    session.add(record)
    session.flush()
    return record


def routing_history(*, session: Session, conversation_id: int) -> Sequence[RoutingRecord]:
    """Every routing decision made for a conversation, oldest first."""
    return session.exec(
        select(RoutingRecord)
        .where(RoutingRecord.conversation_id == conversation_id)
        .order_by(col(RoutingRecord.id))
    ).all()


def channel_setting(*, session: Session, team_id: str, channel_id: str) -> ChannelSetting | None:
    """A channel's settings, if any were made."""
    return session.get(ChannelSetting, (team_id, channel_id))


def save_channel_setting(
    *, session: Session, team_id: str, channel_id: str, **changes: Any
) -> ChannelSetting:
    """Create or update a channel's settings."""
    setting = channel_setting(session=session, team_id=team_id, channel_id=channel_id)
    if setting is None:
        setting = ChannelSetting(team_id=team_id, channel_id=channel_id)
        session.add(setting)
    for key, value in changes.items():
        setattr(setting, key, value)
    setting.updated_at = utcnow()
    session.flush()
    return setting


def open_conversations_of(
    *, session: Session, team_id: str, requester_id: str
) -> Sequence[Conversation]:
    """A person's conversations that are still open, newest first."""
    return session.exec(
        select(Conversation)
        .where(
            Conversation.team_id == team_id,
            Conversation.requester_id == requester_id,
            col(Conversation.status).in_(OPEN_STATUSES),
        )
        .order_by(col(Conversation.last_activity_at).desc())
    ).all()


_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


def acquire_lease(
    *, engine: Engine, name: str, holder: str, duration: timedelta, now: datetime | None = None
) -> bool:
    """Take or renew a named lease; True when `holder` has it until now + duration."""
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
    """Give a lease up at once (on a clean shutdown)."""
    with Session(engine) as session:
        session.execute(
            sa.update(SchedulerLease)
            .where(col(SchedulerLease.name) == name, col(SchedulerLease.holder) == holder)
            .values(lease_until=_LONG_AGO)
        )
        session.commit()


def pending_scheduled_posts(*, session: Session) -> Sequence[ScheduledPost]:
    """Scheduler posts (digests) stored but not yet posted."""
    return session.exec(
        select(ScheduledPost)
        .where(ScheduledPost.post_state == PostState.PENDING)
        .order_by(col(ScheduledPost.id))
    ).all()


def store_inbound(*, engine: Engine, event: InboundEvent) -> bool:
    """Commit a request from the chat before it is acknowledged; False when its key was
    stored already (Slack delivered it again)."""
    with Session(engine) as session:
        session.add(event)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return False
    return True


def prune(*, engine: Engine, before: datetime, batch: int = 1000) -> dict[str, int]:
    """Delete seen-event keys, finished turns and taken-in requests older than `before`,
    `batch` rows per statement so no statement holds the tables for long."""
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


_FINISHED = (WorkStatus.DONE, WorkStatus.FAILED, WorkStatus.CANCELLED)


def ping(*, engine: Engine) -> bool:
    """Whether the database answers a trivial query."""
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return False
    return True


# Confirmed routes ---------------------------------------------------------------------------

ROUTE_EXAMPLES_KEPT = 500  # newest confirmed routes a workspace's router reads


def add_route_example(
    *, session: Session, conversation: Conversation, agent: str, source: str
) -> RouteExample | None:
    """Keep the conversation's request as a labelled example for `agent`.

    The request is the first person's message of the thread; None when there is none. The
    latest confirmation wins: a hand-over replaces the thread's example for the agent before.
    """
    assert conversation.id is not None
    first = session.exec(
        select(Message)
        .where(Message.conversation_id == conversation.id, Message.role == MessageRole.USER)
        .where(Message.kind == MessageKind.TEXT)
        .order_by(col(Message.id))
        .limit(1)
    ).first()
    if first is None or not first.text.strip():
        return None
    earlier = session.exec(
        select(RouteExample).where(RouteExample.conversation_id == conversation.id)
    ).all()
    for row in earlier:
        if row.agent == agent:
            return row
        session.delete(row)
    example = RouteExample(
        team_id=conversation.team_id,
        conversation_id=conversation.id,
        text=first.text,
        agent=agent,
        source=source,
    )
    session.add(example)
    session.flush()
    return example


def route_examples(
    *, session: Session, team_id: str, limit: int = ROUTE_EXAMPLES_KEPT
) -> Sequence[RouteExample]:
    """A workspace's newest confirmed routes, newest first."""
    return session.exec(
        select(RouteExample)
        .where(RouteExample.team_id == team_id)
        .order_by(col(RouteExample.id).desc())
        .limit(limit)
    ).all()


# Implementation runs (bot/implement) -------------------------------------------------------


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


def implement_channel(
    *, session: Session, team_id: str, channel_id: str
) -> ImplementChannel | None:
    """Whether a channel turned implementation runs on or off, if it said."""
    return session.get(ImplementChannel, (team_id, channel_id))


def save_implement_channel(
    *, session: Session, team_id: str, channel_id: str, enabled: bool
) -> ImplementChannel:
    """Turn implementation runs on or off for one channel."""
    setting = implement_channel(session=session, team_id=team_id, channel_id=channel_id)
    if setting is None:
        setting = ImplementChannel(team_id=team_id, channel_id=channel_id)
        session.add(setting)
    setting.enabled = enabled
    setting.updated_at = utcnow()
    session.flush()
    return setting


def newest_conversation_with_status(
    *, session: Session, team_id: str, requester_id: str, status: ConversationStatus
) -> Conversation | None:
    """A person's most recently active conversation in the given state."""
    return session.exec(
        select(Conversation)
        .where(
            Conversation.team_id == team_id,
            Conversation.requester_id == requester_id,
            Conversation.status == status,
        )
        .order_by(col(Conversation.last_activity_at).desc())
    ).first()


def newest_conversations(*, session: Session, limit: int) -> Sequence[Conversation]:
    """The `limit` most recently started conversations, newest first."""
    return session.exec(
        select(Conversation).order_by(col(Conversation.id).desc()).limit(limit)
    ).all()


def conversation_by_id(*, session: Session, conversation_id: int) -> Conversation | None:
    """The conversation with this id, if there is one."""
    return session.get(Conversation, conversation_id)
