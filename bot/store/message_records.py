"""A conversation's messages: stored (a reply goes to the outbox), found and read in order."""

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from bot.accounting.tokens import TokenUsage
from bot.store.models import (
    Conversation,
    Message,
    MessageKind,
    MessageRole,
    PostState,
    utcnow,
)


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
