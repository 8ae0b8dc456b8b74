"""The leases one process holds (turns, stored requests, implementation runs), renewed by a
thread of their own every third of the lease, so a lease runs out only when the process is
gone and another process may then take the row over."""

import logging
import threading
from collections import defaultdict
from datetime import timedelta

from sqlalchemy.engine import Engine

from bot.store import queue
from bot.store.queue import Leased

log = logging.getLogger(__name__)


class LeaseKeeper:
    """`hold` a claimed row while it is worked, `drop` it when done; `start` renews them all."""

    def __init__(self, *, engine: Engine, worker: str, lease: timedelta, name: str) -> None:
        self.engine = engine
        self.worker = worker
        self.lease = lease
        self._held: defaultdict[Leased, set[int]] = defaultdict(set)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def hold(self, table: Leased, row_id: int) -> None:
        """A row this process claimed and now works."""
        with self._lock:
            self._held[table].add(row_id)

    def drop(self, table: Leased, row_id: int) -> None:
        """The row is finished (or handed back): no more renewing."""
        with self._lock:
            self._held[table].discard(row_id)

    def held(self, table: Leased) -> int:
        """How many rows of `table` this process works now."""
        with self._lock:
            return len(self._held[table])

    def start(self) -> None:
        """Renew in the background until `stop`."""
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing (what is still held runs out with its lease)."""
        self._stop.set()

    def renew(self) -> None:
        """Extend every lease held now."""
        with self._lock:
            held = [(table, list(ids)) for table, ids in self._held.items() if ids]
        for table, ids in held:
            queue.renew(
                engine=self.engine, table=table, worker=self.worker, row_ids=ids, lease=self.lease
            )

    def _loop(self) -> None:
        while not self._stop.wait(max(1.0, self.lease.total_seconds() / 3)):
            try:
                self.renew()
            except Exception:
                log.exception("renewing leases failed; trying again")
