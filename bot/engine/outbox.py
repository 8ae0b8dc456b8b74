"""The outbox: replies and scheduler posts stored first, then posted once, in order.

A row is claimed across processes before posting (so two workers never post it together),
released at once when posting fails, and marked posted with its chat timestamp after. A
claim left by a process that died is taken over at once when the process is known dead
(same host), else after `STALE_AFTER`; the poster is then told an earlier attempt happened,
so it looks for a copy that got through (each post carries metadata naming its row).
"""

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.engine.ports import Poster
from bot.engine.views import channel_post_of, reply_of, thread_of
from bot.store import posting
from bot.store.db import session_scope
from bot.store.models import Conversation, Message, ScheduledPost

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=2)


class Outbox:
    """Posts what the engine and the scheduler stored, through an adapter's Poster."""

    def __init__(
        self,
        engine: Engine,
        *,
        worker_id: str,
        is_dead: Callable[[str], bool] = lambda _holder: False,
    ) -> None:
        self.engine = engine
        self.worker_id = worker_id
        self.is_dead = is_dead
        self._threads: defaultdict[int, threading.Lock] = defaultdict(threading.Lock)
        self._threads_lock = threading.Lock()
        self._scheduled = threading.Lock()

    def flush(self, poster: Poster, *, conversation_id: int | None = None) -> int:
        """Post what is pending (one conversation's replies, or everything); returns how many."""
        posted = self._flush_replies(poster, conversation_id)
        if conversation_id is None and self._scheduled.acquire(blocking=False):
            try:
                posted += self._flush_scheduled_posts(poster)
            finally:
                self._scheduled.release()
        return posted

    def _thread_lock(self, conversation_id: int) -> threading.Lock:
        with self._threads_lock:
            return self._threads[conversation_id]

    def _flush_replies(self, poster: Poster, conversation_id: int | None) -> int:
        with Session(self.engine, expire_on_commit=False) as session:
            pending = list(posting.outbox(session=session, conversation_id=conversation_id))
            conversations = {
                m.conversation_id: session.get(Conversation, m.conversation_id) for m in pending
            }
        by_thread: defaultdict[int, list[Message]] = defaultdict(list)
        for message in pending:
            by_thread[message.conversation_id].append(message)
        posted = 0
        for thread_id, messages in by_thread.items():
            conversation = conversations.get(thread_id)
            lock = self._thread_lock(thread_id)
            # One poster per thread in this process keeps its replies in order; a busy
            # thread is being flushed by someone else, who will post these too.
            if conversation is None or not lock.acquire(blocking=conversation_id is not None):
                continue
            try:
                posted += self._post_in_order(poster, conversation, messages)
            finally:
                lock.release()
        return posted

    def _post_in_order(
        self, poster: Poster, conversation: Conversation, messages: list[Message]
    ) -> int:
        posted = 0
        for message in messages:
            assert message.id is not None

            def send(
                earlier: datetime | None,
                message: Message = message,
                thread: Conversation = conversation,
            ) -> str | None:
                message.post_attempted_at = earlier
                return poster.post(
                    thread=thread_of(conversation=thread), reply=reply_of(message=message)
                )

            if not self._send(message, send):
                break  # a thread whose earlier reply is not out yet keeps its order
            posted += 1
        return posted

    def _flush_scheduled_posts(self, poster: Poster) -> int:
        with Session(self.engine, expire_on_commit=False) as session:
            pending = list(posting.pending_scheduled_posts(session=session))
        posted = 0
        for post in pending:
            assert post.id is not None

            def send(earlier: datetime | None, post: ScheduledPost = post) -> str | None:
                post.post_attempted_at = earlier
                return poster.post_to_channel(post=channel_post_of(post=post))

            posted += self._send(post, send)
        return posted

    def _send(
        self, row: Message | ScheduledPost, send: Callable[[datetime | None], str | None]
    ) -> bool:
        """Claim, post and mark one row; False when it was not posted now."""
        assert row.id is not None
        table = type(row)
        claimed, earlier = posting.claim_post(
            engine=self.engine,
            row=row,
            worker=self.worker_id,
            stale_after=STALE_AFTER,
            is_dead=self.is_dead,
        )
        if not claimed:
            return False  # another process is posting it
        try:
            ts = send(earlier)
        except Exception:
            log.exception("posting %s %s failed; it stays in the outbox", table.__name__, row.id)
            with session_scope(self.engine) as session:
                posting.release_post(session=session, table=table, row_id=row.id)
            return False
        with session_scope(self.engine) as session:
            posting.mark_posted(
                session=session,
                table=table,
                row_id=row.id,
                ts=ts,
                revision=row.revision if isinstance(row, Message) else None,
            )
        return True
