"""`agentdesk serve` with worker processes: the turns run apart from the process that acks.

Each test runs the served app as its own process over real HTTP, finds its worker processes
in /proc, and kills or counts them.
"""

import json
import os
import signal
import time
from pathlib import Path

import pytest

from bot.config import Settings
from bot.runtime.serve import worker_niceness
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.slack_server import FakeSlack
from tests.slack.conftest import SlackSide
from tests.slack.processes import ServedApp, child_pids, http_text
from tests.slack.test_crash_recovery import (
    CHANNEL,
    QUESTION,
    RECOVERY_SECONDS,
    REQUEST,
    WAIT_SECONDS,
    _mention_held_turn,
    _questions,
    _served,
    _store,
    _wait_settled,
)
from tests.support import QUESTIONS

pytestmark = pytest.mark.slow  # starts agentdesk as its own process


@pytest.fixture
def slack(fake_slack: FakeSlack) -> FakeSlack:
    fake_slack.add_channel(CHANNEL, name="crash")
    return fake_slack


@pytest.fixture
def model(fake_anthropic: FakeAnthropic) -> FakeAnthropic:
    return fake_anthropic


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_the_default_niceness_depends_on_the_database() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert worker_niceness(settings, "postgresql") == 10  # acks first
    assert worker_niceness(settings, "sqlite") == 0  # no waiting on a lock holder
    assert worker_niceness(Settings(_env_file=None, worker_niceness=3), "sqlite") == 3  # type: ignore[call-arg]


def test_turns_run_in_the_worker_processes_and_metrics_add_up(
    tmp_path: Path, slack: FakeSlack, model: FakeAnthropic
) -> None:
    settings = {"WORKER_PROCESSES": "2", "WORKER_NICENESS": "7"}
    with _served(tmp_path, slack, model, **settings) as (app, side):
        app.start()
        assert app.process is not None
        workers = child_pids(app.process.pid)
        assert len(workers) == 2
        assert {_nice(pid) - _nice(app.process.pid) for pid in workers} == {7}
        model.reply_tool_use("ask_clarifying_questions", QUESTIONS)
        thread = side.mention(REQUEST, channel=CHANNEL)
        side.slack.wait_for(lambda: _questions(side, thread), timeout=WAIT_SECONDS)
        # The turn ran in a worker; the served process's /metrics counts it all the same.
        metrics = http_text(f"{app.base_url}/metrics")
        assert 'agentdesk_turns_total{outcome="awaiting_user"} 1.0' in metrics
        (acks,) = [
            line
            for line in metrics.splitlines()
            if line.startswith("agentdesk_slack_ack_seconds_count")
        ]
        assert float(acks.split()[-1]) >= 1  # acked by the served process
        readiness = json.loads(http_text(f"{app.base_url}/readyz"))
        assert readiness["ready"] is True
        assert readiness["worker_processes"] == "2 of 2 running"

        app.stop(signal.SIGTERM)
        assert not any(_alive(pid) for pid in workers)
        assert "Traceback" not in app.output()


def _held_turn_in_the_worker(
    app: ServedApp, side: SlackSide, model: FakeAnthropic
) -> tuple[int, str]:
    """Start the app with its one worker; the worker's pid and a thread whose turn it holds."""
    app.start()
    assert app.process is not None
    (worker,) = child_pids(app.process.pid)
    return worker, _mention_held_turn(side, model)


def test_a_worker_killed_mid_turn_is_replaced_and_the_turn_answered_once(
    tmp_path: Path, slack: FakeSlack, model: FakeAnthropic
) -> None:
    with _served(tmp_path, slack, model) as (app, side):
        worker, thread = _held_turn_in_the_worker(app, side, model)

        os.kill(worker, signal.SIGKILL)
        killed = time.monotonic()
        side.slack.wait_for(
            lambda: _questions(side, thread),
            timeout=RECOVERY_SECONDS,
            message="the answer from the replacement worker",
        )
        assert time.monotonic() - killed < RECOVERY_SECONDS
        assert app.process is not None
        (replacement,) = child_pids(app.process.pid)
        assert replacement != worker
        engine = _store(tmp_path)
        try:
            _wait_settled(side.slack, engine)
        finally:
            engine.dispose()
        assert len(side.bot_messages(CHANNEL, thread)) == 1, side.bot_texts(CHANNEL, thread)
        assert QUESTION in side.bot_texts(CHANNEL, thread)[0]
        assert "exited with status -9; starting it again" in app.output()


def test_workers_stop_when_the_served_process_dies(
    tmp_path: Path, slack: FakeSlack, model: FakeAnthropic
) -> None:
    with _served(tmp_path, slack, model) as (app, side):
        worker, _ = _held_turn_in_the_worker(app, side, model)

        assert app.process is not None
        app.process.send_signal(signal.SIGKILL)  # the served process alone
        app.process.wait(timeout=10)
        deadline = time.monotonic() + WAIT_SECONDS
        while _alive(worker):
            assert time.monotonic() < deadline, "the worker outlived the served process"
            time.sleep(0.05)
        assert "handed 1 running turns/requests back" in app.output()
