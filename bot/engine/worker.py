"""The worker: runs many agent turns and inbound requests at once, fairly, under live leases.

One loop claims work from the database while this process has free slots
(`TURN_CONCURRENCY`) and hands each claim to a thread pool: turns wait on the model most of
the time, so threads are cheap here, and model calls in flight are capped separately
(`MODEL_CALLS_IN_FLIGHT`, in the LLM client). The claim query keeps it fair (a conversation
runs one turn at a time; per-user and per-channel caps) and works across processes.

A second loop renews the short leases of everything running. `stop()` hands running work
back at once, so another process (or this one after a restart) takes it over immediately;
`start()` first takes back what dead processes of this host left running.
"""

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from bot.engine.desk import Desk
from bot.engine.lease_keeper import LeaseKeeper
from bot.engine.ports import Poster
from bot.store.models import InboundEvent, PendingWork

log = logging.getLogger(__name__)

InboundHandler = Callable[[InboundEvent], None]


class Worker:
    """Claims turns and stored requests and runs them in a pool; posts replies."""

    def __init__(
        self,
        desk: Desk,
        poster: Poster,
        *,
        inbound: InboundHandler | None = None,
        concurrency: int | None = None,
        poll_seconds: float = 2.0,
    ) -> None:
        self.desk = desk
        self.poster = poster
        self.inbound = inbound
        self.concurrency = concurrency or desk.settings.turn_concurrency
        self.poll_seconds = poll_seconds
        # Turns and stored requests have a slot budget each; one more thread posts leftovers.
        self._pool = ThreadPoolExecutor(
            max_workers=2 * self.concurrency + 1, thread_name_prefix="agentdesk-work"
        )
        self._lock = threading.Lock()
        self.leases = LeaseKeeper(
            engine=desk.engine, worker=desk.worker_id, lease=desk.lease, name="agentdesk-leases"
        )
        self._flushing = False
        self._flush_wanted = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._claim_loop, name="agentdesk-claims", daemon=True
        )

    def start(self) -> "Worker":
        """Take back what dead processes left, make the model client, then start claiming."""
        self.desk.llm.prepare()
        try:
            reclaimed = self.desk.reclaim_dead()
            if reclaimed:
                log.info("took back %d turns/requests left by processes that died", reclaimed)
        except Exception:
            log.exception("could not look for work left by dead processes")
        self.leases.start()
        self._thread.start()
        self.kick()
        return self

    def kick(self) -> None:
        """There is new work or a stored reply to post: look now, and post what waits."""
        self._flush_wanted = True
        self._wake.set()

    def wake(self) -> None:
        """There is new work (a stored request, a queued turn): claim it now. Cheaper than
        `kick` under load: it skips the scan of everything waiting to be posted."""
        self._wake.set()

    def free_slots(self) -> int:
        """How many more turns this process would start right now."""
        return max(0, self.concurrency - self.leases.held(PendingWork))

    def _free_request_slots(self) -> int:
        return max(0, self.concurrency - self.leases.held(InboundEvent))

    def stop(self, timeout: float = 5.0) -> None:
        """Hand running work back at once, then stop (threads still running are abandoned:
        whatever they finish is dropped, since they no longer hold their leases)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=timeout)
        self.leases.stop()
        try:
            handed = self.desk.hand_back()
            if handed:
                log.info("handed %d running turns/requests back for another process", handed)
        except Exception:
            log.exception("could not hand running work back; its leases will run out")
        self._pool.shutdown(wait=False, cancel_futures=True)

    # Loops ------------------------------------------------------------------------------------

    def _claim_loop(self) -> None:
        while not self._stop.is_set():
            timed_out = not self._wake.wait(self.poll_seconds)
            self._wake.clear()
            flush, self._flush_wanted = self._flush_wanted or timed_out, False
            try:
                self._claim_all()
                if flush:
                    self._flush_in_background()
            except Exception:
                log.exception("claiming work failed; trying again shortly")

    def _claim_all(self) -> None:
        """Stored requests first (they are quick and bring new turns), then turns, in whole
        batches: with hundreds of threads busy in this process every round trip of this one
        loop waits for the GIL, so one claim per row would pace the starts."""
        while self.inbound is not None and not self._stop.is_set():
            free = self._free_request_slots()
            requests = self.desk.inbox.claim_many(limit=free) if free else []
            for request in requests:
                self._start(InboundEvent, request, self._take_in)
            if len(requests) < free or not requests:  # took all there was
                break
        while not self._stop.is_set() and (free := self.free_slots()) > 0:
            turns = self.desk.claim_turns(limit=free)
            for work in turns:
                self._start(PendingWork, work, self._run_turn)
            if len(turns) < free:  # took all that may run now
                return

    def _start(
        self,
        table: type[PendingWork] | type[InboundEvent],
        row: PendingWork | InboundEvent,
        run: Callable[[PendingWork], None] | Callable[[InboundEvent], None],
    ) -> None:
        assert row.id is not None
        row_id = row.id
        self.leases.hold(table, row_id)

        def done(_: Future[None]) -> None:
            self.leases.drop(table, row_id)
            self._wake.set()  # a slot is free (the turn posted its own replies)

        self._pool.submit(run, row).add_done_callback(done)  # type: ignore[arg-type]

    def _run_turn(self, work: PendingWork) -> None:
        self.desk.run_work(work, poster=self.poster)

    def _take_in(self, request: InboundEvent) -> None:
        assert self.inbound is not None
        try:
            self.inbound(request)
        except Exception as error:
            log.exception("taking in %s %s failed", request.kind, request.key)
            self.desk.inbox.failed(request, f"{type(error).__name__}: {error}")
            return
        self.desk.inbox.done(request)

    def _flush_in_background(self) -> None:
        """Post leftovers (after a restart, a failed post, a scheduler digest) off this loop."""
        with self._lock:
            if self._flushing:
                return
            self._flushing = True

        def flush() -> None:
            try:
                self.desk.flush_outbox(self.poster)
            except Exception:
                log.exception("posting stored replies failed; trying again shortly")
            finally:
                with self._lock:
                    self._flushing = False

        self._pool.submit(flush)
