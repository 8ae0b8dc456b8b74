"""Queries behind the scheduler's follow-ups: reminders, auto-close, the digest, retention."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.store.db import session_scope
from bot.store.models import (
    Conversation,
    ConversationStatus,
    Message,
    MessageKind,
    MessageRole,
    RequirementCard,
    ScheduledPost,
)


def awaiting_since_before(
    *, engine: Engine, before: datetime, reminders_below: int
) -> Sequence[tuple[int, str]]:
    """(conversation id, requester) of each conversation awaiting its requester since before
    `before` that got fewer than `reminders_below` reminders."""
    with Session(engine) as session:
        rows = session.exec(
            select(Conversation.id, Conversation.requester_id).where(
                Conversation.status == ConversationStatus.AWAITING_USER,
                Conversation.reminders_sent < reminders_below,
                col(Conversation.awaiting_since).is_not(None),
                col(Conversation.awaiting_since) <= before,
            )
        ).all()
    return [(conversation_id, requester) for conversation_id, requester in rows if conversation_id]


def idle_conversation_ids(
    *, engine: Engine, statuses: Iterable[ConversationStatus], before: datetime
) -> Sequence[int]:
    """Conversations in one of `statuses` with no activity since `before`."""
    with Session(engine) as session:
        ids = session.exec(
            select(Conversation.id).where(
                col(Conversation.status).in_(list(statuses)),
                col(Conversation.last_activity_at) < before,
            )
        ).all()
    return [conversation_id for conversation_id in ids if conversation_id is not None]


def lock_conversation(*, session: Session, conversation_id: int) -> Conversation | None:
    """The conversation, locked for update until the session's transaction ends."""
    return session.get(Conversation, conversation_id, with_for_update=True)


def latest_assistant_message(
    *, session: Session, conversation_id: int, kinds: Iterable[MessageKind]
) -> Message | None:
    """The agent's newest message of one of `kinds` in the conversation."""
    return session.exec(
        select(Message)
        .where(
            Message.conversation_id == conversation_id,
            Message.role == MessageRole.ASSISTANT,
            col(Message.kind).in_(list(kinds)),
        )
        .order_by(col(Message.id).desc())
    ).first()


def scheduled_post_exists(*, session: Session, key: str) -> bool:
    """Whether a scheduled post with this key is already stored."""
    return (
        session.exec(select(ScheduledPost.id).where(ScheduledPost.key == key)).first() is not None
    )


def add_scheduled_post(*, session: Session, post: ScheduledPost) -> bool:
    """Store the post; False (and the session rolled back) when another process stored the
    same key first."""
    session.add(post)
    try:
        session.flush()
    except sa.exc.IntegrityError:
        session.rollback()
        return False
    return True


def team_of_channel(*, session: Session, channel_id: str) -> str | None:
    """The workspace of a conversation in the channel, or None when it has none."""
    return session.exec(
        select(Conversation.team_id).where(Conversation.channel_id == channel_id).limit(1)
    ).first()


def served_teams(*, session: Session, limit: int) -> Sequence[str]:
    """Up to `limit` distinct workspaces that have conversations."""
    return session.exec(select(Conversation.team_id).distinct().limit(limit)).all()


def conversations_created(
    *, session: Session, team_id: str, since: datetime, until: datetime
) -> Sequence[Conversation]:
    """The workspace's conversations started in [since, until)."""
    return session.exec(
        select(Conversation).where(
            Conversation.team_id == team_id,
            col(Conversation.created_at) >= since,
            col(Conversation.created_at) < until,
        )
    ).all()


def conversations_awaiting_user(*, session: Session, team_id: str) -> Sequence[Conversation]:
    """The workspace's conversations waiting on their requester, longest waiting first."""
    return session.exec(
        select(Conversation)
        .where(
            Conversation.team_id == team_id,
            Conversation.status == ConversationStatus.AWAITING_USER,
        )
        .order_by(col(Conversation.awaiting_since))
    ).all()


def deliverables_count(*, session: Session, team_id: str, since: datetime, until: datetime) -> int:
    """How many deliverables the workspace's conversations got in [since, until)."""
    count: Any = session.exec(
        select(sa.func.count())
        .select_from(Message)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(
            Conversation.team_id == team_id,
            Message.kind == MessageKind.DELIVERABLE,
            col(Message.created_at) >= since,
            col(Message.created_at) < until,
        )
    ).one()
    return int(count)


def conversations_failed_since(
    *, session: Session, team_id: str, since: datetime
) -> Sequence[Conversation]:
    """The workspace's failed conversations last changed at or after `since`."""
    return session.exec(
        select(Conversation).where(
            Conversation.team_id == team_id,
            Conversation.status == ConversationStatus.FAILED,
            col(Conversation.updated_at) >= since,
        )
    ).all()


def redact_before(*, engine: Engine, cutoff: datetime) -> int:
    """Blank message texts and payloads, titles, card versions and scheduled posts made before
    `cutoff`, in one transaction; how many messages were redacted."""
    with session_scope(engine) as session:
        redacted = session.execute(
            sa.update(Message)
            .where(
                col(Message.created_at) < cutoff,
                sa.or_(col(Message.text) != "", col(Message.payload).is_not(None)),
            )
            .values(text="", payload=None)
        )
        session.execute(
            sa.update(Conversation)
            .where(col(Conversation.created_at) < cutoff, col(Conversation.title) != "")
            .values(title="")
        )
        session.execute(
            sa.update(ScheduledPost)
            .where(col(ScheduledPost.created_at) < cutoff, col(ScheduledPost.text) != "")
            .values(text="", payload=None)
        )
        session.execute(  # a card version's author is blanked with it: done once per row
            sa.update(RequirementCard)
            .where(col(RequirementCard.created_at) < cutoff, col(RequirementCard.author) != "")
            .values(content={}, author="")
        )
        return int(getattr(redacted, "rowcount", 0) or 0)
