"""Background workers that run queued turns and post replies, woken by new work or a timer."""

import logging
import threading

from bot.engine.desk import Desk
from bot.engine.ports import Poster

log = logging.getLogger(__name__)


class Worker:
    """Threads that claim turns from the database (exactly once, across processes) and post.

    `kick()` wakes them at once; they also look every `poll_seconds` for work left by a
    restart, another process, or a turn whose worker died.
    """

    def __init__(
        self, desk: Desk, poster: Poster, *, threads: int = 2, poll_seconds: float = 2.0
    ) -> None:
        self.desk = desk
        self.poster = poster
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, name=f"agentdesk-worker-{i}", daemon=True)
            for i in range(threads)
        ]

    def start(self) -> "Worker":
        """Start the threads; unfinished turns and unposted replies are picked up first."""
        for thread in self._threads:
            thread.start()
        self.kick()
        return self

    def kick(self) -> None:
        """There is new work: look now."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Let running turns finish, then stop."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.desk.flush_outbox(self.poster)
                if self.desk.work(poster=self.poster):
                    self._wake.set()  # more may have arrived while we worked
            except Exception:
                log.exception("worker loop failed; trying again shortly")
