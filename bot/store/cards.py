"""Requirement cards: their versions, sign-offs, the message that shows them, run history."""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bot.store.models import (
    CardApproval,
    Conversation,
    ConversationStatus,
    ImplementationRun,
    ImplementationStatus,
    Message,
    MessageKind,
    MessageRole,
    PostState,
    RequirementCard,
    utcnow,
)


def latest_card(*, session: Session, conversation_id: int) -> RequirementCard | None:
    """The card's newest version, if the conversation has a card."""
    return session.exec(
        select(RequirementCard)
        .where(RequirementCard.conversation_id == conversation_id)
        .order_by(col(RequirementCard.version).desc())
        .limit(1)
    ).first()


def card_versions(*, session: Session, conversation_id: int) -> Sequence[RequirementCard]:
    """Every version of a conversation's card, oldest first."""
    return session.exec(
        select(RequirementCard)
        .where(RequirementCard.conversation_id == conversation_id)
        .order_by(col(RequirementCard.version))
    ).all()


def add_card_version(
    *, session: Session, conversation_id: int, content: dict[str, Any], author: str
) -> RequirementCard:
    """Store the next version of a conversation's card."""
    newest = latest_card(session=session, conversation_id=conversation_id)
    card = RequirementCard(
        conversation_id=conversation_id,
        version=(newest.version + 1) if newest else 1,
        content=content,
        author=author,
    )
    session.add(card)
    session.flush()
    return card


def conversations_with_cards(
    *,
    session: Session,
    team_id: str,
    statuses: Sequence[ConversationStatus],
    requester_id: str | None = None,
    limit: int = 50,
) -> Sequence[Conversation]:
    """A workspace's conversations in `statuses` that have a card (one person's, when
    `requester_id` is given), most recently active first."""
    has_card = sa.exists().where(col(RequirementCard.conversation_id) == col(Conversation.id))
    query = select(Conversation).where(
        Conversation.team_id == team_id, col(Conversation.status).in_(statuses), has_card
    )
    if requester_id is not None:
        query = query.where(Conversation.requester_id == requester_id)
    return session.exec(
        query.order_by(col(Conversation.last_activity_at).desc()).limit(limit)
    ).all()


def current_approval(*, session: Session, conversation_id: int) -> CardApproval | None:
    """The sign-off in force (not withdrawn), if any."""
    return session.exec(
        select(CardApproval)
        .where(
            CardApproval.conversation_id == conversation_id,
            col(CardApproval.withdrawn_at).is_(None),
        )
        .order_by(col(CardApproval.id).desc())
        .limit(1)
    ).first()


def last_approval(*, session: Session, conversation_id: int) -> CardApproval | None:
    """The newest sign-off, in force or withdrawn since."""
    return session.exec(
        select(CardApproval)
        .where(CardApproval.conversation_id == conversation_id)
        .order_by(col(CardApproval.id).desc())
        .limit(1)
    ).first()


def card_version(*, session: Session, conversation_id: int, version: int) -> RequirementCard | None:
    """One version of a conversation's card."""
    return session.exec(
        select(RequirementCard).where(
            RequirementCard.conversation_id == conversation_id,
            RequirementCard.version == version,
        )
    ).first()


def add_approval(*, session: Session, approval: CardApproval) -> CardApproval:
    """Record a sign-off."""
    session.add(approval)
    session.flush()
    return approval


def withdraw_approvals(*, session: Session, conversation_id: int, reason: str) -> int:
    """Withdraw the sign-offs in force; how many there were."""
    result = session.execute(
        sa.update(CardApproval)
        .where(
            col(CardApproval.conversation_id) == conversation_id,
            col(CardApproval.withdrawn_at).is_(None),
        )
        .values(withdrawn_at=utcnow(), withdrawn_reason=reason)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def card_message(*, session: Session, conversation_id: int) -> Message | None:
    """The message that shows the card in the thread."""
    return session.exec(
        select(Message).where(
            Message.conversation_id == conversation_id, Message.kind == MessageKind.CARD
        )
    ).first()


def show_card(
    *, session: Session, conversation_id: int, text: str, payload: dict[str, Any]
) -> Message:
    """Store the card's message, or its new text for the outbox to edit in place.

    A message already in the chat goes back to the outbox as a new revision; one still on
    its way keeps its claim, and the post that is under way counts only for its revision.
    """
    message = card_message(session=session, conversation_id=conversation_id)
    if message is None:
        message = Message(
            conversation_id=conversation_id,
            role=MessageRole.ASSISTANT,
            kind=MessageKind.CARD,
            text=text,
            payload=payload,
            post_state=PostState.PENDING,
        )
        session.add(message)
        session.flush()
        return message
    if message.text == text and message.payload == payload:
        return message
    posted = message.post_state is PostState.POSTED
    message.text, message.payload = text, payload
    message.revision += 1
    message.post_state = PostState.PENDING
    if posted:
        message.post_attempted_at, message.post_claimed_by = None, None
    session.add(message)
    session.flush()
    return message


def finished_runs(
    *, session: Session, agent: str | None, repo: str | None
) -> list[tuple[float, float]]:
    """(cost in USD, seconds) of the runs that succeeded, for one agent and repository when
    given; newest first, at most 50."""
    query = (
        select(
            ImplementationRun.cost_usd, ImplementationRun.started_at, ImplementationRun.finished_at
        )
        .join(Conversation, col(Conversation.id) == col(ImplementationRun.conversation_id))
        .where(
            ImplementationRun.status == ImplementationStatus.SUCCEEDED,
            col(ImplementationRun.started_at).is_not(None),
            col(ImplementationRun.finished_at).is_not(None),
        )
    )
    if agent:
        query = query.where(Conversation.agent == agent)
    if repo:
        query = query.where(ImplementationRun.repo == repo)
    rows = session.exec(query.order_by(col(ImplementationRun.id).desc()).limit(50)).all()
    return [
        (float(cost), (finished - started).total_seconds())
        for cost, started, finished in rows
        if started is not None and finished is not None
    ]
