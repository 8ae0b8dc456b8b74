"""Token usage read back from the stored replies, grouped for reports and budgets."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bot.accounting.tokens import TokenUsage
from bot.store.models import Conversation, Message, MessageRole


class UsageGrouping(StrEnum):
    """What `usage_totals` groups by."""

    AGENT = "agent"
    CHANNEL = "channel"
    USER = "user"
    CONVERSATION = "conversation"


@dataclass(frozen=True)
class UsageTotal:
    """Tokens spent by one group on one model: the agent turns that wrote replies."""

    key: str
    model: str | None
    conversations: int
    turns: int
    usage: TokenUsage


_KEYS: dict[UsageGrouping, Any] = {
    UsageGrouping.AGENT: col(Message.author_name),
    UsageGrouping.CHANNEL: col(Conversation.channel_id),
    UsageGrouping.USER: col(Conversation.requester_id),
    UsageGrouping.CONVERSATION: col(Conversation.id),
}


_SPENT = sa.or_(
    col(Message.input_tokens) > 0,
    col(Message.output_tokens) > 0,
    col(Message.cache_read_tokens) > 0,
    col(Message.cache_write_tokens) > 0,
)


def usage_totals(
    *,
    session: Session,
    by: UsageGrouping,
    since: datetime | None = None,
    team_id: str | None = None,
    channel_id: str | None = None,
    conversation_ids: list[int] | None = None,
) -> list[UsageTotal]:
    """Token sums of the agent's replies per group and model, biggest spenders first."""
    key = _KEYS[by]
    tokens = [
        col(Message.input_tokens),
        col(Message.output_tokens),
        col(Message.cache_read_tokens),
        col(Message.cache_write_tokens),
    ]
    query = (
        select(
            key,
            col(Message.model),
            sa.func.count(sa.distinct(col(Message.conversation_id))),
            sa.func.count(col(Message.id)),
            *(sa.func.coalesce(sa.func.sum(t), 0) for t in tokens),
        )
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(col(Message.role) == MessageRole.ASSISTANT)
        .where(_SPENT)
        .group_by(key, col(Message.model))
    )
    query = _filtered(
        query,
        since=since,
        team_id=team_id,
        channel_id=channel_id,
        conversation_ids=conversation_ids,
    )
    rows = session.exec(query).all()
    totals = [
        UsageTotal(
            key=str(row[0]) if row[0] is not None else "-",
            model=row[1],
            conversations=int(row[2]),
            turns=int(row[3]),
            usage=TokenUsage(
                input_tokens=int(row[4]),
                output_tokens=int(row[5]),
                cache_read_tokens=int(row[6]),
                cache_write_tokens=int(row[7]),
            ),
        )
        for row in rows
    ]
    return sorted(totals, key=lambda t: (-t.usage.total_input - t.usage.output_tokens, t.key))


def conversation_counts(
    *, session: Session, by: UsageGrouping, since: datetime | None = None
) -> dict[str, int]:
    """How many conversations each group had replies in (across all models)."""
    key = _KEYS[by]
    query = (
        select(key, sa.func.count(sa.distinct(col(Message.conversation_id))))
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(col(Message.role) == MessageRole.ASSISTANT)
        .where(_SPENT)
        .group_by(key)
    )
    query = _filtered(query, since=since)
    return {str(k) if k is not None else "-": int(n) for k, n in session.exec(query).all()}


def _filtered(
    query: Any,
    *,
    since: datetime | None,
    team_id: str | None = None,
    channel_id: str | None = None,
    conversation_ids: list[int] | None = None,
) -> Any:
    if since is not None:
        query = query.where(col(Message.created_at) >= since)
        # Storing a message moves its conversation's updated_at (message_records.add_message),
        # so this drops no row; it lets ix_conversation_channel_updated skip a channel's older
        # conversations (a channel's spend this month is read before every turn).
        query = query.where(col(Conversation.updated_at) >= since)
    if team_id is not None:
        query = query.where(col(Conversation.team_id) == team_id)
    if channel_id is not None:
        query = query.where(col(Conversation.channel_id) == channel_id)
    if conversation_ids is not None:
        query = query.where(col(Conversation.id).in_(conversation_ids))
    return query
