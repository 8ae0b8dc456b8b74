"""Conversations, one a thread: found, created, listed, and their status and token totals."""

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.accounting.tokens import TokenUsage
from bot.store.models import OPEN_STATUSES, Conversation, ConversationStatus, utcnow


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


def conversation_by_id(*, session: Session, conversation_id: int) -> Conversation | None:
    """The conversation with this id, if there is one."""
    return session.get(Conversation, conversation_id)


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


def add_usage(*, conversation: Conversation, usage: TokenUsage) -> None:
    """Add a call's tokens to the conversation's totals."""
    conversation.input_tokens += usage.input_tokens
    conversation.output_tokens += usage.output_tokens
    conversation.cache_read_tokens += usage.cache_read_tokens
    conversation.cache_write_tokens += usage.cache_write_tokens
