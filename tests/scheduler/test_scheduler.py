"""Exactly one scheduler runs; its job sits in the SQLAlchemy job store under a fixed id."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.config import Settings
from bot.engine.followups import FollowUps
from bot.runtime.scheduler import JOBS_TABLE, SWEEP_JOB_ID, SchedulerService
from bot.store.db import upgrade


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def service(engine: Engine, clock: Clock, holder: str) -> SchedulerService:
    settings = Settings(_env_file=None, scheduler_lease_seconds=60)  # type: ignore[call-arg]
    followups = FollowUps(engine=engine, settings=settings, timezone_of=lambda _user: None)
    return SchedulerService(
        engine=engine, settings=settings, followups=followups, clock=clock, holder=holder
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _exactly_one_leads(engine: Engine, clock: Clock) -> None:
    upgrade(engine)
    first, second = service(engine, clock, "first"), service(engine, clock, "second")
    try:
        assert first.try_lead() is True
        assert second.try_lead() is False
        assert first.leading and not second.leading
        assert second.sweep_now() is None  # a standby never sweeps
        assert first.sweep_now() is not None

        clock.now += timedelta(seconds=30)
        assert first.try_lead() is True  # renewed
        clock.now += timedelta(seconds=45)
        assert second.try_lead() is False  # the renewal still holds

        clock.now += timedelta(seconds=61)  # the first process stopped renewing: it died
        assert second.try_lead() is True
        assert first.try_lead() is False
        assert second.leading and not first.leading
    finally:
        first.stop()
        second.stop()


def test_sqlite_second_scheduler_waits(sqlite_engine: Engine, clock: Clock) -> None:
    _exactly_one_leads(sqlite_engine, clock)


@pytest.mark.postgres
def test_postgres_second_scheduler_waits(postgres_engine: Engine, clock: Clock) -> None:
    _exactly_one_leads(postgres_engine, clock)


def test_a_clean_stop_hands_over_at_once(sqlite_engine: Engine, clock: Clock) -> None:
    upgrade(sqlite_engine)
    first, second = service(sqlite_engine, clock, "first"), service(sqlite_engine, clock, "second")
    assert first.try_lead()
    first.stop()
    assert second.try_lead()
    second.stop()


def test_the_sweep_job_is_stored_once_under_its_fixed_id(
    sqlite_engine: Engine, clock: Clock
) -> None:
    upgrade(sqlite_engine)
    for holder in ("before-restart", "after-restart"):
        scheduler = service(sqlite_engine, clock, holder)
        assert scheduler.try_lead()
        scheduler.stop()
    with sqlite_engine.connect() as connection:
        ids = connection.execute(text(f"SELECT id FROM {JOBS_TABLE}")).scalars().all()  # noqa: S608
    assert ids == [SWEEP_JOB_ID]


def test_a_started_scheduler_sweeps_through_apscheduler(sqlite_engine: Engine) -> None:
    upgrade(sqlite_engine)
    swept = threading.Event()
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    followups = FollowUps(engine=sqlite_engine, settings=settings, timezone_of=lambda _user: None)
    running = SchedulerService(
        engine=sqlite_engine,
        settings=settings,
        followups=followups,
        on_sweep=lambda _report: swept.set(),
    ).start()
    try:
        assert swept.wait(timeout=10), "the sweep job did not run"
        assert running.leading
    finally:
        running.stop()
    assert not running.leading
