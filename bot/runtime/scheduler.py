"""APScheduler jobs: the follow-up sweep, run by exactly one process at a time.

Jobs live in APScheduler's SQLAlchemy job store in our database, under fixed ids with
`replace_existing=True`, coalesced, with a misfire grace time long enough that a restart
does not skip due work. The sweep reads due work from our tables (nothing is pickled per
conversation), and every sweep is idempotent.

APScheduler 3 does not coordinate processes, so a lease in `scheduler_lease` elects one
leader: only the process holding it runs the scheduler; others wait and take over when the
lease runs out (a crashed leader) or is released (a clean stop).
"""

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from bot.config import Settings
from bot.engine.followups import FollowUps, SweepReport
from bot.repos import RepoSet
from bot.store import scheduler_lease
from bot.store.models import APSCHEDULER_JOBS

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
SWEEP_JOB_ID = "agentdesk.followups.sweep"
FETCH_JOB_ID = "agentdesk.repos.fetch"
JOBS_TABLE = APSCHEDULER_JOBS.name  # made by the migrations

# The job store pickles a reference to `run_sweep`; it finds the live service here.
_active: "SchedulerService | None" = None


def run_sweep() -> None:
    """The job APScheduler runs: one follow-up sweep, if this process still leads."""
    service = _active
    if service is not None:
        service.sweep_now()


def run_fetch() -> None:
    """The job that keeps mirrored repositories fresh."""
    service = _active
    if service is not None:
        service.fetch_now()


class SchedulerService:
    """Leader election plus the APScheduler instance the leader runs."""

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        followups: FollowUps,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        holder: str | None = None,
        on_sweep: Callable[[SweepReport], None] | None = None,
        repos: RepoSet | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.followups = followups
        self.clock = clock
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.on_sweep = on_sweep
        self.repos = repos
        self.lease = timedelta(seconds=settings.scheduler_lease_seconds)
        self._scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sweep_lock = threading.Lock()

    @property
    def leading(self) -> bool:
        """True while this process runs the jobs."""
        return self._scheduler is not None

    def try_lead(self) -> bool:
        """Take or renew the lease; start the jobs on winning it, stop them on losing it."""
        won = scheduler_lease.acquire_lease(
            engine=self.engine,
            name=LEASE_NAME,
            holder=self.holder,
            duration=self.lease,
            now=self.clock(),
        )
        if won and self._scheduler is None:
            self._start_jobs()
        elif not won and self._scheduler is not None:
            log.warning("scheduler lease lost to another process; stopping jobs here")
            self._stop_jobs()
        return won

    def sweep_now(self) -> SweepReport | None:
        """Run one sweep if this process holds the lease (and no sweep is running here)."""
        if not self._sweep_lock.acquire(blocking=False):
            return None
        try:
            # Renew only: starting or stopping jobs is the election thread's work, and
            # stopping the scheduler from inside its own job would wait on itself.
            if not scheduler_lease.acquire_lease(
                engine=self.engine,
                name=LEASE_NAME,
                holder=self.holder,
                duration=self.lease,
                now=self.clock(),
            ):
                return None
            report = self.followups.sweep(self.clock())
            if report != SweepReport():
                log.info("follow-ups: %s", report)
            if self.on_sweep is not None:
                self.on_sweep(report)
            return report
        finally:
            self._sweep_lock.release()

    def fetch_now(self) -> dict[str, str | None]:
        """Clone or fetch every mirrored repository; failures are logged, never raised."""
        if self.repos is None:
            return {}
        outcome = self.repos.sync_all()
        for name, problem in outcome.items():
            if problem:
                log.warning("fetching repo %s failed: %s", name, problem)
        return outcome

    def start(self) -> "SchedulerService":
        """Contend for the lease in the background until stopped."""
        global _active
        _active = self
        self._thread = threading.Thread(target=self._elect, name="agentdesk-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the jobs and hand the lease over at once."""
        global _active
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._scheduler is not None:
            self._stop_jobs()
            scheduler_lease.release_lease(engine=self.engine, name=LEASE_NAME, holder=self.holder)
        if _active is self:
            _active = None

    def _elect(self) -> None:
        renew_every = max(1.0, self.lease.total_seconds() / 3)
        while not self._stop.is_set():
            try:
                self.try_lead()
            except Exception:
                log.exception("scheduler election failed; trying again")
            self._stop.wait(renew_every)

    def _start_jobs(self) -> None:
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.engine, tablename=JOBS_TABLE)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": self.settings.scheduler_misfire_grace_seconds,
            },
            timezone=UTC,
        )
        jobs = [(run_sweep, self.settings.scheduler_interval_seconds, SWEEP_JOB_ID, "follow-ups")]
        if self.repos is not None and len(self.repos):
            jobs.append(
                (run_fetch, self.settings.repos_fetch_interval_seconds, FETCH_JOB_ID, "fetch")
            )
        for job, seconds, job_id, name in jobs:
            scheduler.add_job(
                job,
                "interval",
                seconds=seconds,
                id=job_id,
                name=name,
                replace_existing=True,
                next_run_time=self.clock(),
            )
        scheduler.start()
        self._scheduler = scheduler
        log.info("this process (%s) runs the scheduler", self.holder)

    def _stop_jobs(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=True)
