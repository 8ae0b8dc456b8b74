"""Read-only summaries for the Home tab and the digest: a workspace's week, its feedback,
its channel settings."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bot.store.models import (
    ChannelSetting,
    Conversation,
    ConversationStatus,
    Message,
    MessageKind,
    MessageRole,
)

FEEDBACK_PREFIX = "feedback: "  # how `record_feedback` stores a rating


@dataclass(frozen=True)
class Usage:
    """A workspace's requests and model tokens over a period, and how people rated plans."""

    requests: int = 0
    delivered: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    helpful: int = 0
    not_helpful: int = 0


def usage_since(*, session: Session, team_id: str, since: datetime) -> Usage:
    """Requests started since `since` in one workspace, their tokens, and the ratings given."""
    requests, delivered, input_tokens, output_tokens = session.exec(
        select(
            sa.func.count(col(Conversation.id)),
            sa.func.coalesce(
                sa.func.sum(
                    sa.case(
                        (col(Conversation.status) == ConversationStatus.DELIVERED.value, 1),
                        else_=0,
                    )
                ),
                0,
            ),
            sa.func.coalesce(sa.func.sum(Conversation.input_tokens), 0),
            sa.func.coalesce(sa.func.sum(Conversation.output_tokens), 0),
        ).where(Conversation.team_id == team_id, Conversation.created_at >= since)
    ).one()
    ratings = feedback_since(session=session, team_id=team_id, since=since)
    return Usage(
        requests=int(requests),
        delivered=int(delivered),
        input_tokens=int(input_tokens),
        output_tokens=int(output_tokens),
        helpful=ratings.get("up", 0),
        not_helpful=ratings.get("down", 0),
    )


def feedback_since(
    *, session: Session, team_id: str, since: datetime, until: datetime | None = None
) -> dict[str, int]:
    """How many times plans were rated each way ("up", "down") in one workspace."""
    rows = session.exec(
        select(Message.text, sa.func.count(col(Message.id)))
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(
            Conversation.team_id == team_id,
            Message.role == MessageRole.USER,
            Message.kind == MessageKind.NOTICE,
            col(Message.text).startswith(FEEDBACK_PREFIX),
            Message.created_at >= since,
            *([Message.created_at < until] if until is not None else []),
        )
        .group_by(col(Message.text))
    ).all()
    return {str(text).removeprefix(FEEDBACK_PREFIX): int(count) for text, count in rows}


def channel_settings(*, session: Session, team_id: str) -> Sequence[ChannelSetting]:
    """Every channel of a workspace with settings, by channel ID."""
    return session.exec(
        select(ChannelSetting)
        .where(ChannelSetting.team_id == team_id)
        .order_by(col(ChannelSetting.channel_id))
    ).all()
