"""Event keys already seen, so a retried or doubly delivered event is taken in once."""

from collections.abc import Iterable

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from bot.store.models import SeenEvent, utcnow


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
