"""Threads that claim implementation runs and work them, apart from the agent-turn workers
(a run takes minutes; a turn must not wait behind one): inside `serve`/`run`, or in an
`agentdesk work --implement` process of their own."""

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from bot.engine.lease_keeper import LeaseKeeper
from bot.engine.views import ThreadRef
from bot.implement.service import ImplementationService
from bot.store.models import ImplementationRun

log = logging.getLogger(__name__)


class ImplementationWorker:
    """`kick()` after queuing a run; the threads also look every `poll_seconds` for runs
    queued by another process, or left behind by one that died (their lease expired)."""

    def __init__(
        self,
        service: ImplementationService,
        *,
        on_posted: Callable[[int], None],
        on_activity: Callable[[ThreadRef, str], None] | None = None,
        threads: int | None = None,
        poll_seconds: float = 2.0,
    ) -> None:
        self.service = service
        self.on_posted = on_posted
        self.on_activity = on_activity
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        count = threads or service.settings.implement_concurrency
        self._threads = [
            threading.Thread(target=self._loop, name=f"agentdesk-implement-{i}", daemon=True)
            for i in range(count)
        ]
        # Renewed for the whole run, also while no Claude Code session is going (preparing
        # the worktree, pushing): the lease runs out only when this process is gone.
        self.leases = LeaseKeeper(
            engine=service.engine,
            worker=service.worker_id,
            lease=timedelta(seconds=service.settings.turn_lease_seconds),
            name="agentdesk-run-leases",
        )
        self._started = False

    def start(self) -> "ImplementationWorker":
        """Start the threads, after taking back the runs of this host's dead processes."""
        if not self._started:
            self._started = True
            try:
                reclaimed = self.service.reclaim_dead()
            except Exception:  # the database is down: the leases run out instead
                log.warning("could not take back runs of dead processes", exc_info=True)
            else:
                if reclaimed:
                    log.info("took back %d implementation runs of processes that died", reclaimed)
            self.leases.start()
            for thread in self._threads:
                thread.start()
        self.kick()
        return self

    def kick(self) -> None:
        """A run was queued: look now."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; running sessions end and go back to the queue, for another process
        or the next start (a run still going after `timeout` seconds keeps its lease until
        it runs out)."""
        self._stop.set()
        self.service.shutting_down.set()
        self._wake.set()
        if self._started:
            deadline = time.monotonic() + timeout
            for thread in self._threads:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
            self.leases.stop()

    def work_once(self) -> bool:
        """Claim and work one run; False when there was none."""
        run = self.service.claim_next()
        if run is None:
            return False
        assert run.id is not None
        self.leases.hold(ImplementationRun, run.id)
        try:
            self.service.run_implementation_job(
                run, on_posted=self.on_posted, on_activity=self.on_activity
            )
        finally:
            self.leases.drop(ImplementationRun, run.id)
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                while not self._stop.is_set() and self.work_once():
                    pass
            except Exception:
                log.exception("implementation worker loop failed; trying again shortly")
