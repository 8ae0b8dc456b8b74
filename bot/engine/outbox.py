"""The outbox: replies and scheduler posts stored first, then posted once, in order.

A row is claimed across processes before posting (so two workers never post it together),
released at once when posting fails, and marked posted with its chat timestamp after.
A claim left by a process that died is taken over after `STALE_AFTER`; the poster is then
told an earlier attempt happened, so it can look for a copy that got through.
"""

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.engine.ports import Poster
from bot.store import crud
from bot.store.db import session_scope
from bot.store.models import Conversation, Message, ScheduledPost

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=2)


class Outbox:
    """Posts what the engine and the scheduler stored, through an adapter's Poster."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()

    def flush(self, poster: Poster, *, conversation_id: int | None = None) -> int:
        """Post what is pending (one conversation's replies, or everything); returns how many."""
        with self._lock:
            posted = self._flush_replies(poster, conversation_id)
            if conversation_id is None:
                posted += self._flush_scheduled_posts(poster)
        return posted

    def _flush_replies(self, poster: Poster, conversation_id: int | None) -> int:
        with Session(self.engine, expire_on_commit=False) as session:
            pending = list(crud.outbox(session=session, conversation_id=conversation_id))
            conversations = {
                m.conversation_id: session.get(Conversation, m.conversation_id) for m in pending
            }
        posted = 0
        stuck: set[int] = set()  # a thread whose earlier reply is not out yet keeps its order
        for message in pending:
            conversation = conversations.get(message.conversation_id)
            if conversation is None or message.conversation_id in stuck:
                continue
            assert message.id is not None

            def send(
                earlier: datetime | None,
                message: Message = message,
                thread: Conversation = conversation,
            ) -> str | None:
                message.post_attempted_at = earlier
                return poster.post(conversation=thread, message=message)

            if self._send(Message, message.id, send):
                posted += 1
            else:
                stuck.add(message.conversation_id)
        return posted

    def _flush_scheduled_posts(self, poster: Poster) -> int:
        with Session(self.engine, expire_on_commit=False) as session:
            pending = list(crud.pending_scheduled_posts(session=session))
        posted = 0
        for post in pending:
            assert post.id is not None

            def send(earlier: datetime | None, post: ScheduledPost = post) -> str | None:
                post.post_attempted_at = earlier
                return poster.post_to_channel(post=post)

            posted += self._send(ScheduledPost, post.id, send)
        return posted

    def _send(
        self,
        table: type[Message] | type[ScheduledPost],
        row_id: int,
        send: Callable[[datetime | None], str | None],
    ) -> bool:
        """Claim, post and mark one row; False when it was not posted now."""
        claimed, earlier = crud.claim_post(
            engine=self.engine, table=table, row_id=row_id, stale_after=STALE_AFTER
        )
        if not claimed:
            return False  # another process is posting it
        try:
            ts = send(earlier)
        except Exception:
            log.exception("posting %s %s failed; it stays in the outbox", table.__name__, row_id)
            crud.release_post(
                engine=self.engine, table=table, row_id=row_id, stale_after=STALE_AFTER
            )
            return False
        with session_scope(self.engine) as session:
            crud.mark_posted(session=session, table=table, row_id=row_id, ts=ts)
        return True
