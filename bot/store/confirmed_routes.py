"""Confirmed routes: a thread's request kept as a labelled example for the router."""

from collections.abc import Sequence

from sqlmodel import Session, col, select

from bot.store.models import Conversation, Message, MessageKind, MessageRole, RouteExample

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
