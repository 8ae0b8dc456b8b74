"""Requests from the chat, stored before they are acknowledged (their claims are in queue.py)."""

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.store.models import InboundEvent


def store_inbound(*, engine: Engine, event: InboundEvent) -> bool:
    """Commit a request from the chat before it is acknowledged; False when its key was
    stored already (Slack delivered it again). It commits on its own: the ack waits for it."""
    with Session(engine) as session:
        session.add(event)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return False
    return True
