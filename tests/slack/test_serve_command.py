"""`agentdesk serve` as deployed: its own process, uvicorn, migrations at start, a signal to stop."""

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import text

from bot.store.db import make_engine
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.slack_server import FakeSlack, visible_text
from tests.slack.conftest import SECRET, is_card
from tests.slack.processes import app_environment, mention_envelope
from tests.support import QUESTIONS, ROUTED_TO_BACKEND

pytestmark = pytest.mark.slow  # starts agentdesk as its own process


CHANNEL = "C0SERVE"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def _post_signed(url: str, body: str) -> int:
    stamp = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310 (loopback)
        url,
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(
                timestamp=stamp, body=body
            ),
        },
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback)
        return int(response.status)


def test_serve_answers_a_mention_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    with FakeSlack(users={"U1": {"real_name": "Alice"}}) as slack, FakeAnthropic() as model:
        model.reply_tool_use("choose_agent", ROUTED_TO_BACKEND)  # OAuth fits two agents
        model.reply_tool_use("ask_clarifying_questions", QUESTIONS)
        env = app_environment(
            slack=slack,
            model=model,
            database=tmp_path / "served.db",
            SLACK_SIGNING_SECRET=SECRET,
        )
        server = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while _get(f"{base}/healthz")[0] != 200:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "serve did not answer /healthz in 30 s"
                time.sleep(0.1)
            assert json.loads(_get(f"{base}/healthz")[1]) == {"ok": True, "database": "ok"}

            ts, envelope = mention_envelope(
                slack, channel=CHANNEL, text="I need OAuth login", user="U1", event_id="Ev0SERVE"
            )
            assert _post_signed(f"{base}/slack/events", json.dumps(envelope)) == 200
            reply = slack.wait_for(
                lambda: next(
                    (m for m in slack.thread(CHANNEL, ts) if m["bot_id"] and not is_card(m)), None
                ),
                timeout=15,
                message="the agent's questions in the thread",
            )
            assert "1. Which identity providers?" in visible_text(reply)
            status, metrics = _get(f"{base}/metrics")
            assert status == 200 and 'agentdesk_turns_total{outcome="awaiting_user"} 1.0' in metrics
        finally:
            server.send_signal(signal.SIGTERM)
            output, _ = server.communicate(timeout=20)
        # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells it.
        assert server.returncode in (0, -signal.SIGTERM), output
        assert "Application shutdown complete." in output
        assert "this process" in output and "runs the scheduler" in output
        assert "Traceback" not in output
        assert "xoxb-test" not in output and "test-key" not in output  # secrets never logged
        assert "will be unused" not in output  # Bolt's warning about our own client's token
        assert "problems" not in output  # the seed agent's tolerant reading is only a warning
        # quiet and truthful: no library chatter at start, no error for a clean stop
        assert " ERROR " not in output, output
        assert "alembic.runtime.plugins" not in output and "Context impl" not in output
    with make_engine(f"sqlite:///{tmp_path / 'served.db'}").connect() as connection:
        lease_until = connection.execute(text("SELECT lease_until FROM scheduler_lease")).scalar()
    assert str(lease_until).startswith("1970-01-01")  # handed over on the way out
