"""`agentdesk run` with SLACK_APP_TOKEN: Socket Mode, in its own process, against the fakes."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import Session

from bot.store import pending_work, posting
from bot.store.db import make_engine
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.slack_server import FakeSlack, visible_text
from tests.fakes.socket_mode_server import FakeSocketMode
from tests.slack.conftest import is_card
from tests.slack.processes import app_environment, mention_envelope
from tests.support import QUESTIONS, ROUTED_TO_BACKEND

pytestmark = pytest.mark.slow  # starts agentdesk as its own process


CHANNEL = "C0SOCKET"


def _wait_until_idle(database: Path, timeout: float = 10.0) -> None:
    """Until the app's database holds no unfinished turn and no unposted reply."""
    engine = make_engine(f"sqlite:///{database}")
    deadline = time.monotonic() + timeout
    try:
        while True:
            with Session(engine) as session:
                if not pending_work.unfinished_work_count(session=session) and not posting.outbox(
                    session=session
                ):
                    return
            assert time.monotonic() < deadline, "the app did not finish its work"
            time.sleep(0.05)
    finally:
        engine.dispose()


def test_run_connects_over_socket_mode_and_answers_a_mention(tmp_path: Path) -> None:
    with (
        FakeSlack(tokens=("xoxb-test", "xapp-test"), users={"U1": {"real_name": "Alice"}}) as slack,
        FakeSocketMode(slack) as socket_mode,
        FakeAnthropic() as model,
    ):
        model.reply_tool_use("choose_agent", ROUTED_TO_BACKEND)  # OAuth fits two agents
        model.reply_tool_use("ask_clarifying_questions", QUESTIONS)
        env = app_environment(
            slack=slack, model=model, database=tmp_path / "socket.db", SLACK_APP_TOKEN="xapp-test"
        )
        app = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            socket_mode.wait_connected(timeout=30)
            ts, envelope = mention_envelope(
                slack, channel=CHANNEL, text="I need OAuth login", user="U1", event_id="Ev0SOCKET"
            )
            socket_mode.send_event(envelope)
            socket_mode.send_event(envelope)  # a redelivery: acked, answered once
            reply = slack.wait_for(
                lambda: next(
                    (m for m in slack.thread(CHANNEL, ts) if m["bot_id"] and not is_card(m)), None
                ),
                timeout=15,
                message="the agent's questions in the thread",
            )
            assert "1. Which identity providers?" in visible_text(reply)
            _wait_until_idle(tmp_path / "socket.db")
            assert (
                len([m for m in slack.thread(CHANNEL, ts) if m["bot_id"] and not is_card(m)]) == 1
            )
        finally:
            app.send_signal(signal.SIGTERM)  # as a deploy stops it
            try:
                output, _ = app.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                app.kill()
                output, _ = app.communicate()
        assert "Connecting to Slack in Socket Mode" in output
        assert app.returncode == 0, output
        assert "Stopped; running turns were handed back." in output
        assert "Traceback" not in output
        assert len(model.message_requests) == 2  # routing, then the agent
