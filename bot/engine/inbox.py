"""Requests from the chat, stored before they are acknowledged and taken in afterwards.

An adapter stores the raw request (`store`) and only then acknowledges it; when the store
fails it must not acknowledge, so the chat delivers it again. A worker then claims each row
under a lease and hands it to the adapter's handler, which reads what it needs (names,
thread history) and calls the desk. A row whose handler fails is tried again with a pause.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine

from bot.store import inbound_events, queue
from bot.store.db import session_scope
from bot.store.models import InboundEvent, WorkStatus

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


@dataclass
class Inbox:
    """The stored-request queue of one process."""

    engine: Engine
    worker_id: str
    lease: timedelta
    retry_base_seconds: float = 1.0  # pauses of 1, 2, 4, 8 s between tries
    # Stores before the ack go through their own connection pool: the ack must never wait
    # for a connection behind hundreds of running turns.
    ack_engine: Engine | None = None

    def store(self, *, kind: str, key: str, body: dict[str, Any], thread_key: str = "") -> bool:
        """Commit a request; False when it was stored before (a redelivery). Raises when the
        database can't take it: the caller must then not acknowledge."""
        return inbound_events.store_inbound(
            engine=self.ack_engine or self.engine,
            event=InboundEvent(kind=kind, key=key[:200], body=body, thread_key=thread_key[:100]),
        )

    def claim(self) -> InboundEvent | None:
        """The next stored request for this worker, if any."""
        return queue.claim_inbound(engine=self.engine, worker=self.worker_id, lease=self.lease)

    def claim_many(self, *, limit: int) -> list[InboundEvent]:
        """Up to `limit` stored requests for this worker, taken in one transaction."""
        return queue.claim_inbounds(
            engine=self.engine, worker=self.worker_id, lease=self.lease, limit=limit
        )

    def done(self, row: InboundEvent) -> None:
        """The request was taken in."""
        self._close(row, WorkStatus.DONE)

    def failed(self, row: InboundEvent, error: str) -> bool:
        """Taking it in failed: try again shortly, or give up after MAX_ATTEMPTS (True)."""
        assert row.id is not None
        if row.attempts >= MAX_ATTEMPTS:
            self._close(row, WorkStatus.FAILED, error)
            return True
        queue.retry_later(
            engine=self.engine,
            table=InboundEvent,
            row_id=row.id,
            worker=self.worker_id,
            error=error,
            delay=timedelta(seconds=self.retry_base_seconds * 2 ** (row.attempts - 1)),
        )
        return False

    def _close(self, row: InboundEvent, status: WorkStatus, error: str | None = None) -> None:
        assert row.id is not None
        with session_scope(self.engine) as session:
            queue.finish(
                session=session,
                table=InboundEvent,
                row_id=row.id,
                status=status,
                error=error,
                worker=self.worker_id,
            )
