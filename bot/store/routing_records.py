"""Routing decisions, one row each: method, candidates, scores and time."""

from collections.abc import Sequence

from sqlmodel import Session, col, select

from bot.store.models import RoutingRecord


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
