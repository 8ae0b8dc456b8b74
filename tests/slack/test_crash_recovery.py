"""Crashes and restarts of `agentdesk serve` as its own process, over real HTTP.

Each test plays Slack (signed requests, the fake workspace) against a served app, kills or
stops it at a chosen moment, starts it again on the same database, and counts what the
thread shows once everything has settled: every answer arrives, and arrives once.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from bot.store import pending_work, posting, queue
from bot.store.db import make_engine
from bot.store.models import Conversation, ConversationStatus, PendingWork
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.slack_server import FakeSlack, visible_text
from tests.slack.conftest import ALICE, BACKEND, BOB, FRONTEND, SECRET, SlackSide, model_down
from tests.slack.processes import ServedApp, app_environment, http_get
from tests.support import QUESTIONS

pytestmark = pytest.mark.slow  # starts agentdesk as its own process


CHANNEL = "C0CRASH"
REQUEST = "backend-feature-developer: I need OAuth login"  # named, so no routing call
QUESTION = "1. Which identity providers?"
HELD_SECONDS = 30.0  # a model answer the process under test never lives to see
RECOVERY_SECONDS = 15.0  # from a restart (serving again) to the answer in the thread
# Long enough that only taking a dead process's turns back at once (not their leases running
# out) answers within RECOVERY_SECONDS; the default is 30 s.
LEASE_SECONDS = "120"
WAIT_SECONDS = 15.0  # for anything else the app does; generous, the machine may be busy


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(
        users={
            ALICE: {"real_name": "Alice Archer", "display_name": "alice"},
            BOB: {"real_name": "Bob Baker", "display_name": "bob"},
        },
        channels={CHANNEL: {"name": "crash"}},
    ) as fake:
        yield fake


@pytest.fixture
def model() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake


@contextmanager
def _served(
    tmp_path: Path, slack: FakeSlack, model: FakeAnthropic, **settings: str
) -> Iterator[tuple[ServedApp, SlackSide]]:
    """An app (not started yet; SQLite unless `DATABASE_URL` is given) and Slack's side."""
    env = app_environment(
        slack=slack,
        model=model,
        database=tmp_path / "desk.db",
        SLACK_SIGNING_SECRET=SECRET,
        TURN_LEASE_SECONDS=LEASE_SECONDS,
        **settings,
    )
    app = ServedApp(env=env, folder=tmp_path)
    try:
        yield app, SlackSide(base_url=app.base_url, slack=slack, anthropic=model)
    finally:
        app.close()
    assert slack.errors == []
    assert model.failures == []


@pytest.fixture
def served(
    tmp_path: Path, slack: FakeSlack, model: FakeAnthropic
) -> Iterator[tuple[ServedApp, SlackSide]]:
    """An app on a SQLite file (not started yet) and Slack's side of it."""
    with _served(tmp_path, slack, model) as pair:
        yield pair


def _store(tmp_path: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / 'desk.db'}")


def _wait_settled(slack: FakeSlack, engine: Engine, timeout: float = WAIT_SECONDS) -> None:
    """Wait until no turn or request is unfinished and nothing awaits posting, twice in a
    row: only then may a test count what a thread shows."""
    streak = 0

    def settled() -> bool:
        nonlocal streak
        with Session(engine) as session:
            idle = (
                pending_work.unfinished_work_count(session=session) == 0
                and queue.unfinished_inbound_count(session=session) == 0
                and not posting.outbox(session=session)
            )
        streak = streak + 1 if idle else 0
        return streak >= 2

    slack.wait_for(settled, timeout=timeout, interval=0.1, message="the app to settle")


def _questions(side: SlackSide, thread: str) -> list[str]:
    return [t for t in side.bot_texts(CHANNEL, thread) if QUESTION in t]


def _answered_once_after_restart(
    app: ServedApp, side: SlackSide, model: FakeAnthropic, tmp_path: Path, thread: str
) -> None:
    app.start()
    restarted = time.monotonic()
    side.slack.wait_for(
        lambda: _questions(side, thread),
        timeout=RECOVERY_SECONDS,
        message=f"the answer within {RECOVERY_SECONDS:.0f} s of the restart",
    )
    waited = time.monotonic() - restarted
    assert waited < RECOVERY_SECONDS
    engine = _store(tmp_path)
    try:
        _wait_settled(side.slack, engine)
    finally:
        engine.dispose()
    assert len(_questions(side, thread)) == 1, side.bot_texts(CHANNEL, thread)
    assert len(side.bot_messages(CHANNEL, thread)) == 1, side.bot_texts(CHANNEL, thread)
    assert len(model.message_requests) == 2  # the interrupted call, and the one after
    assert "Traceback" not in app.output()


def _mention_held_turn(side: SlackSide, model: FakeAnthropic) -> str:
    """A mention whose first model call is held back; returns once the model has it."""
    model.reply_tool_use("ask_clarifying_questions", QUESTIONS, delay_seconds=HELD_SECONDS)
    model.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    thread = side.mention(REQUEST, channel=CHANNEL)
    model.wait_for_requests(1, timeout=WAIT_SECONDS)
    return thread


def test_sigkill_mid_turn_then_restart_answers_once(
    served: tuple[ServedApp, SlackSide], model: FakeAnthropic, tmp_path: Path
) -> None:
    app, side = served
    app.start()
    thread = _mention_held_turn(side, model)

    app.stop(signal.SIGKILL)

    _answered_once_after_restart(app, side, model, tmp_path, thread)


def test_sigterm_mid_turn_hands_back_then_restart_answers_once(
    served: tuple[ServedApp, SlackSide], model: FakeAnthropic, tmp_path: Path
) -> None:
    app, side = served
    app.start()
    thread = _mention_held_turn(side, model)

    took = app.stop(signal.SIGTERM)

    assert took < 5.0, f"SIGTERM took {took:.1f} s:\n{app.output()}"
    assert app.process is not None and app.process.returncode in (0, -signal.SIGTERM)
    assert "Traceback" not in app.output()
    engine = _store(tmp_path)
    try:
        with Session(engine) as session:
            (work,) = session.exec(select(PendingWork)).all()
        assert work.leased_by is None  # handed back: the next process takes it at once
        assert work.finished_at is None
    finally:
        engine.dispose()
    assert _questions(side, thread) == []

    _answered_once_after_restart(app, side, model, tmp_path, thread)
    assert QUESTION in visible_text(side.bot_messages(CHANNEL, thread)[0])


def test_scheduler_exits_zero_on_sigterm_and_hands_its_lease_over(
    tmp_path: Path, slack: FakeSlack, model: FakeAnthropic
) -> None:
    env = app_environment(slack=slack, model=model, database=tmp_path / "desk.db")
    log_path = tmp_path / "scheduler.log"
    with log_path.open("wb") as log:
        scheduler = subprocess.Popen(
            [sys.executable, "-m", "bot", "scheduler"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        engine = _store(tmp_path)
        try:
            slack.wait_for(
                lambda: _scheduler_lease(engine) > time.time(),
                timeout=60,
                interval=0.1,
                message="the scheduler to take its lease (its output: scheduler.log)",
            )
            started = time.monotonic()
            scheduler.send_signal(signal.SIGTERM)
            scheduler.wait(timeout=10)
            took = time.monotonic() - started
            assert _scheduler_lease(engine) < time.time()  # handed over on the way out
        finally:
            engine.dispose()
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
            scheduler.wait()
    output = log_path.read_text()
    assert scheduler.returncode == 0, output
    assert took < 5.0, output
    assert "Traceback" not in output


def _scheduler_lease(engine: Engine) -> float:
    """When the scheduler's lease runs out (epoch seconds; 0 when nobody took it yet)."""
    with engine.connect() as connection:
        try:
            until = connection.execute(text("SELECT lease_until FROM scheduler_lease")).scalar()
        except OperationalError:  # not migrated yet
            return 0.0
    if until is None:
        return 0.0
    moment = until if isinstance(until, datetime) else datetime.fromisoformat(str(until))
    return moment.replace(tzinfo=moment.tzinfo or UTC).timestamp()


def test_a_kill_between_slack_taking_a_post_and_the_posted_mark_leaves_one_reply(
    served: tuple[ServedApp, SlackSide], model: FakeAnthropic, slack: FakeSlack, tmp_path: Path
) -> None:
    app, side = served
    app.start()
    model.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    # The first post is the requirement card: Slack takes it, the app hears nothing.
    slack.hold_next("chat.postMessage", HELD_SECONDS)
    thread = side.mention(REQUEST, channel=CHANNEL)
    side.wait_for_card(CHANNEL, thread, timeout=WAIT_SECONDS)  # not yet marked posted

    app.stop(signal.SIGKILL)
    engine = _store(tmp_path)
    try:
        with Session(engine) as session:
            assert (
                len(posting.outbox(session=session)) == 2
            )  # the card awaits its mark, then the reply
        app.start()
        restarted = time.monotonic()
        _wait_settled(slack, engine)
        assert time.monotonic() - restarted < RECOVERY_SECONDS
    finally:
        engine.dispose()

    assert len(side.bot_messages(CHANNEL, thread)) == 1, side.bot_texts(CHANNEL, thread)
    assert side.card(CHANNEL, thread) is not None  # once: `card` checks there is one
    assert len(slack.calls_to("chat.postMessage")) == 2
    assert len(model.message_requests) == 1  # the turn itself was done before the kill
    assert "Traceback" not in app.output()


def test_stale_buttons_on_a_cancelled_conversation_revive_nothing(
    tmp_path: Path, slack: FakeSlack, model: FakeAnthropic
) -> None:
    fast_retries = {"MODEL_MAX_RETRIES": "2", "MODEL_RETRY_WAIT_CAP_SECONDS": "0.05"}
    with _served(tmp_path, slack, model, **fast_retries) as (app, side):
        app.start()
        engine = _store(tmp_path)
        try:
            _stale_choose_agent(side, model, engine)
            _stale_retry(side, model, engine)
        finally:
            engine.dispose()
        assert "Traceback" not in app.output()


def _stale_choose_agent(side: SlackSide, model: FakeAnthropic, engine: Engine) -> None:
    model.reply_tool_use(
        "choose_agent", {"agent": FRONTEND, "confident": False, "reason": "could be either"}
    )
    thread = side.mention("Add a toggle for notifications", channel=CHANNEL)
    choose = side.wait_for_text(
        CHANNEL, thread, "Which agent should take this?", timeout=WAIT_SECONDS
    )
    _wait_settled(side.slack, engine)
    side.command("cancel", channel=CHANNEL, response_name="cancel")
    side.slack.wait_for(
        lambda: _status(engine, thread) is ConversationStatus.CANCELLED,
        timeout=WAIT_SECONDS,
        message="the /feature cancel",
    )
    _wait_settled(side.slack, engine)
    calls, shown = len(model.message_requests), side.bot_texts(CHANNEL, thread)

    side.click(choose, BACKEND, response_name="stale-choose")

    (note,) = side.slack.wait_for(
        lambda: side.slack.responses("stale-choose"), timeout=WAIT_SECONDS
    )
    assert note["response_type"] == "ephemeral"
    assert note["text"] == "This request was cancelled. Reply in its thread to start it again."
    _wait_settled(side.slack, engine)
    assert _status(engine, thread) is ConversationStatus.CANCELLED
    assert len(model.message_requests) == calls  # no turn started
    assert side.bot_texts(CHANNEL, thread) == shown


def _stale_retry(side: SlackSide, model: FakeAnthropic, engine: Engine) -> None:
    model_down(model)
    thread = side.mention(REQUEST, channel=CHANNEL)
    failure = side.wait_for_text(
        CHANNEL, thread, "I couldn't finish this turn.", timeout=WAIT_SECONDS
    )
    _wait_settled(side.slack, engine)
    side.click(failure, "Cancel")
    side.wait_for_text(CHANNEL, thread, "Cancelled by alice.", timeout=WAIT_SECONDS)
    _wait_settled(side.slack, engine)
    assert _status(engine, thread) is ConversationStatus.CANCELLED
    calls, shown = len(model.message_requests), side.bot_texts(CHANNEL, thread)

    side.click(failure, "Retry", response_name="stale-retry")  # the button as first shown

    (note,) = side.slack.wait_for(lambda: side.slack.responses("stale-retry"), timeout=WAIT_SECONDS)
    assert note["response_type"] == "ephemeral"
    assert note["text"] == "This request was cancelled. Reply in its thread to start it again."
    _wait_settled(side.slack, engine)
    assert _status(engine, thread) is ConversationStatus.CANCELLED
    assert len(model.message_requests) == calls
    assert side.bot_texts(CHANNEL, thread) == shown


def _status(engine: Engine, thread: str) -> ConversationStatus | None:
    with Session(engine) as session:
        conversation = session.exec(
            select(Conversation).where(Conversation.thread_ts == thread)
        ).first()
    return None if conversation is None else conversation.status


@pytest.mark.postgres
def test_a_mention_while_the_database_refuses_is_not_acked_and_its_redelivery_is_answered_once(
    tmp_path: Path, slack: FakeSlack, model: FakeAnthropic, postgres_engine: Engine
) -> None:
    database = str(postgres_engine.url.database)
    url = postgres_engine.url.render_as_string(hide_password=False)
    # Another database of the same server: this one will refuse connections for a while.
    admin = make_engine(os.environ["AGENTDESK_TEST_POSTGRES_URL"]).execution_options(
        isolation_level="AUTOCOMMIT"
    )
    with _served(tmp_path, slack, model, DATABASE_URL=url) as (app, side):
        app.start()
        model.reply_tool_use("ask_clarifying_questions", QUESTIONS)
        model.reply_tool_use("ask_clarifying_questions", QUESTIONS)
        refused: list[tuple[str, dict[str, Any]]] = []

        # Writes refused, reads still answered: a read-only database.
        _refuse(
            admin, database, f'ALTER DATABASE "{database}" SET default_transaction_read_only = on'
        )
        refused += _mention_refused(side, REQUEST)
        # Down: no connection at all; the health check says so too.
        _refuse(admin, database, f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        assert http_get(f"{app.base_url}/healthz") == 503
        refused += _mention_refused(side, REQUEST + " for the admin pages")

        _refuse(admin, database, f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        _refuse(admin, database, f'ALTER DATABASE "{database}" RESET default_transaction_read_only')
        side.slack.wait_for(
            lambda: http_get(f"{app.base_url}/healthz") == 200,
            timeout=WAIT_SECONDS,
            message="the database back",
        )
        for _, envelope in refused:  # Slack delivers each refused event again
            assert side.send_envelope(envelope, retry_num=1).status == 200
        _wait_settled(slack, postgres_engine)
        threads = list(dict.fromkeys(thread for thread, _ in refused))
        assert len(threads) == 2
        for thread in threads:
            assert len(_questions(side, thread)) == 1, side.bot_texts(CHANNEL, thread)
            assert len(side.bot_messages(CHANNEL, thread)) == 1, side.bot_texts(CHANNEL, thread)
        assert len(model.message_requests) == 2
        # A second redelivery of the same events changes nothing.
        for _, envelope in refused:
            assert side.send_envelope(envelope, retry_num=2).status == 200
        _wait_settled(slack, postgres_engine)
        assert len(model.message_requests) == 2
        assert [len(side.bot_messages(CHANNEL, thread)) for thread in threads] == [1, 1]
    admin.dispose()


def _refuse(admin: Engine, database: str, statement: str) -> None:
    """Change how the database treats new sessions and end the ones open now (the app's
    pool reconnects under the new rule)."""
    with admin.connect() as connection:
        connection.execute(text(statement))
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": database},
        )


def _mention_refused(side: SlackSide, request: str) -> list[tuple[str, dict[str, Any]]]:
    """A mention Slack sends (a `message` and an `app_mention` event) that gets non-2xx."""
    ts = side.slack.add_user_message(CHANNEL, f"<@UBOT> {request}", ALICE)
    envelopes = [side.envelope(event) for event in side.events_for(CHANNEL, ts)]
    for envelope in envelopes:
        status = side.send_envelope(envelope).status
        assert not 200 <= status < 300, status
    return [(ts, envelope) for envelope in envelopes]
