"""Several `agentdesk serve` processes and `agentdesk scheduler` processes on one PostgreSQL.

Each test runs the real commands as their own processes against the fakes and a fresh
database: a Slack retry that lands on the other web process, a web process killed mid-turn
(the other finishes the turn once the dead one's lease runs out), and two schedulers of
which only one runs the jobs.
"""

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.runtime.scheduler import SWEEP_JOB_ID
from bot.store import pending_work, posting, queue
from bot.store.models import APSCHEDULER_JOBS
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.slack_server import FakeSlack, visible_text
from tests.slack.conftest import ALICE, SECRET, TEAM, SlackSide, is_card
from tests.slack.processes import ServedApp, app_environment
from tests.support import QUESTIONS

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CHANNEL = "C0MANY"
DIGEST_CHANNEL = "C0DIGEST"
REQUEST = "backend-feature-developer: I need OAuth login"  # named, so no routing call
QUESTION = "1. Which identity providers?"
DIGEST_MARK = "agentdesk digest"
LEASE_SECONDS = 5  # TURN_LEASE_SECONDS: a killed process's turn is free again this soon
HELD_SECONDS = 30.0  # a model answer the killed process never lives to see
WAIT_SECONDS = 20.0  # for anything the processes do; generous, the machine may be busy


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(
        users={ALICE: {"real_name": "Alice Archer", "display_name": "alice"}},
        channels={CHANNEL: {"name": "many"}, DIGEST_CHANNEL: {"name": "digest"}},
    ) as fake:
        yield fake


@pytest.fixture
def model() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def environment(
    tmp_path: Path, slack: FakeSlack, model: FakeAnthropic, postgres_engine: Engine
) -> dict[str, str]:
    """What every process of the test runs with: the fakes, the scratch database, short
    leases, a daily digest, and the scheduler in its own process only."""
    return app_environment(
        slack=slack,
        model=model,
        database=tmp_path / "unused.db",
        SLACK_SIGNING_SECRET=SECRET,
        DATABASE_URL=postgres_engine.url.render_as_string(hide_password=False),
        TURN_LEASE_SECONDS=str(LEASE_SECONDS),
        SCHEDULER_IN_PROCESS="false",
        SCHEDULER_LEASE_SECONDS="10",
        DIGEST_CHANNEL=f"{TEAM}:{DIGEST_CHANNEL}",
        DIGEST_FREQUENCY="daily",
    )


class Scheduler:
    """`agentdesk scheduler` as its own process, its output in `scheduler-<name>.log`."""

    def __init__(self, *, env: dict[str, str], folder: Path, name: str) -> None:
        self.log_path = folder / f"scheduler-{name}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "scheduler"],
                cwd=folder,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def leads(self) -> bool:
        """Whether its log says it took the scheduler lease."""
        return "runs the scheduler" in self.output()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def _web_pair(
    env: dict[str, str], folder: Path, slack: FakeSlack, model: FakeAnthropic
) -> tuple[list[ServedApp], list[SlackSide]]:
    """Two served processes (started side by side, both ready) and Slack's side of each."""
    apps = [ServedApp(env=env, folder=folder / name) for name in ("web-a", "web-b")]
    for app in apps:
        app.folder.mkdir()
    starters = [threading.Thread(target=app.start) for app in apps]
    for starter in starters:
        starter.start()
    for starter in starters:
        starter.join()
    for app in apps:
        assert app.process is not None and app.process.poll() is None, app.output()
    return apps, [SlackSide(base_url=app.base_url, slack=slack, anthropic=model) for app in apps]


def _wait_settled(slack: FakeSlack, engine: Engine) -> None:
    """Wait until no turn or request is unfinished and nothing awaits posting, twice in a row."""
    streak = 0

    def settled() -> bool:
        nonlocal streak
        with Session(engine) as session:
            idle = (
                pending_work.unfinished_work_count(session=session) == 0
                and queue.unfinished_inbound_count(session=session) == 0
                and not posting.outbox(session=session)
                and not list(posting.pending_scheduled_posts(session=session))
            )
        streak = streak + 1 if idle else 0
        return streak >= 2

    slack.wait_for(settled, timeout=WAIT_SECONDS, interval=0.1, message="the processes to settle")


def _answers(slack: FakeSlack, thread: str) -> list[dict[str, Any]]:
    return [
        m
        for m in slack.thread(CHANNEL, thread)
        if m.get("bot_id") and m["ts"] != thread and not is_card(m)
    ]


def _digests(slack: FakeSlack) -> list[dict[str, Any]]:
    return [
        m
        for m in slack.messages(DIGEST_CHANNEL)
        if m.get("bot_id") and DIGEST_MARK in visible_text(m)
    ]


def _lease_holder(engine: Engine) -> str | None:
    with engine.connect() as connection:
        holder = connection.execute(
            text("SELECT holder FROM scheduler_lease WHERE lease_until > now()")
        ).scalar()
    return None if holder is None else str(holder)


def _next_sweep(engine: Engine) -> float:
    """When APScheduler's job store has the next follow-up sweep (epoch seconds)."""
    with engine.connect() as connection:
        moment = connection.execute(
            sa.select(APSCHEDULER_JOBS.c.next_run_time).where(APSCHEDULER_JOBS.c.id == SWEEP_JOB_ID)
        ).scalar()
    return float(moment or 0.0)


def test_retries_on_the_other_process_give_one_reply_and_one_scheduler_runs_the_jobs(
    tmp_path: Path,
    slack: FakeSlack,
    model: FakeAnthropic,
    environment: dict[str, str],
    postgres_engine: Engine,
) -> None:
    schedulers: list[Scheduler] = []
    apps: list[ServedApp] = []
    try:
        apps, (side_a, side_b) = _web_pair(environment, tmp_path, slack, model)
        schedulers = [
            Scheduler(env=environment, folder=tmp_path, name=name) for name in ("one", "two")
        ]
        model.reply_tool_use("ask_clarifying_questions", QUESTIONS)
        model.reply_tool_use("ask_clarifying_questions", QUESTIONS)

        # Slack sends `message` and `app_mention` for one mention; each lands on one process
        # and its retry on the other.
        first = slack.add_user_message(CHANNEL, f"<@UBOT> {REQUEST}", ALICE)
        envelopes = [side_a.envelope(event) for event in side_a.events_for(CHANNEL, first)]
        assert len(envelopes) == 2
        for envelope, (to, retry_to) in zip(
            envelopes, [(side_a, side_b), (side_b, side_a)], strict=True
        ):
            assert to.send_envelope(envelope).status == 200
            assert retry_to.send_envelope(envelope, retry_num=1).status == 200

        # A delivery and its retry arriving at both processes at the same moment.
        second = slack.add_user_message(CHANNEL, f"<@UBOT> {REQUEST} for the admin pages", ALICE)
        (message, mention) = side_a.events_for(CHANNEL, second)
        racing = side_a.envelope(mention)
        statuses: list[int] = []
        senders = [
            threading.Thread(
                target=lambda side=side, retry=retry: statuses.append(
                    side.send_envelope(racing, retry_num=retry).status
                )
            )
            for side, retry in ((side_a, None), (side_b, 1))
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        assert statuses == [200, 200]
        assert side_b.send_envelope(side_a.envelope(message)).status == 200

        slack.wait_for(lambda: _digests(slack), timeout=WAIT_SECONDS, message="the digest")
        _wait_settled(slack, postgres_engine)
        for thread in (first, second):
            texts = [visible_text(m) for m in _answers(slack, thread)]
            assert len(texts) == 1 and QUESTION in texts[0], texts
        assert len(model.message_requests) == 2

        # One scheduler holds the lease and ran the jobs; the digest was posted once.
        leaders = [s for s in schedulers if s.leads()]
        assert len(leaders) == 1, [s.output() for s in schedulers]
        (leader,) = leaders
        (follower,) = [s for s in schedulers if s is not leader]
        holder = _lease_holder(postgres_engine)
        assert holder is not None and f":{leader.process.pid}:" in holder
        assert len(_digests(slack)) == 1

        # The leader stops; the other takes the lease over, sweeps, and posts nothing twice.
        leader.process.send_signal(signal.SIGTERM)
        assert leader.process.wait(timeout=10) == 0, leader.output()
        handed_over = time.time()
        slack.wait_for(
            lambda: f":{follower.process.pid}:" in (_lease_holder(postgres_engine) or ""),
            timeout=WAIT_SECONDS,
            interval=0.2,
            message="the other scheduler to take the lease",
        )
        slack.wait_for(
            lambda: _next_sweep(postgres_engine) > handed_over + 60,
            timeout=WAIT_SECONDS,
            interval=0.2,
            message="the other scheduler's first sweep",
        )
        _wait_settled(slack, postgres_engine)
        assert follower.leads()
        assert len(_digests(slack)) == 1
        for process_output in [*(a.output() for a in apps), *(s.output() for s in schedulers)]:
            assert "Traceback" not in process_output
    finally:
        for scheduler in schedulers:
            scheduler.close()
        for app in apps:
            app.close()
    assert slack.errors == []
    assert model.failures == []


def test_a_process_killed_mid_turn_is_finished_by_the_other_once_its_lease_runs_out(
    tmp_path: Path,
    slack: FakeSlack,
    model: FakeAnthropic,
    environment: dict[str, str],
    postgres_engine: Engine,
) -> None:
    apps: list[ServedApp] = []
    scheduler: Scheduler | None = None
    try:
        apps, (side_a, _) = _web_pair(environment, tmp_path, slack, model)
        scheduler = Scheduler(env=environment, folder=tmp_path, name="one")
        killed_app, other_app = apps
        model.reply_tool_use("ask_clarifying_questions", QUESTIONS, delay_seconds=HELD_SECONDS)
        model.reply_tool_use("ask_clarifying_questions", QUESTIONS)

        thread = side_a.mention(REQUEST, channel=CHANNEL)
        model.wait_for_requests(1, timeout=WAIT_SECONDS)  # process A is in the turn
        killed_app.stop(signal.SIGKILL)
        killed = time.monotonic()

        model.wait_for_requests(2, timeout=WAIT_SECONDS)
        took_over = time.monotonic() - killed
        slack.wait_for(lambda: _answers(slack, thread), timeout=WAIT_SECONDS, message="the answer")
        _wait_settled(slack, postgres_engine)

        texts = [visible_text(m) for m in _answers(slack, thread)]
        assert len(texts) == 1 and QUESTION in texts[0], texts
        assert len(model.message_requests) == 2  # the interrupted call, and the other's
        # A renews its lease every LEASE_SECONDS / 3, so at the kill at least two thirds of
        # it were left: the other process waited for it to run out (no same-host shortcut).
        assert took_over >= LEASE_SECONDS * 2 / 3 - 1.0, took_over
        assert "Traceback" not in other_app.output()
        assert scheduler.process.poll() is None, scheduler.output()
    finally:
        if scheduler is not None:
            scheduler.close()
        for app in apps:
            app.close()
    assert slack.errors == []
    assert model.failures == []
