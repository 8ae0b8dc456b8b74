"""A process killed in the middle of an implementation run: the next process resumes the run
and the conversation still has exactly one pull request."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.store.db import make_engine
from tests.fakes.anthropic_server import ClaudeCodeScript, FakeAnthropic, ToolUseSpec
from tests.fakes.github_server import FakeGitHub
from tests.fakes.slack_server import FakeSlack, visible_text
from tests.implement.support import RUN_TESTS, implementation_steps, make_remote
from tests.slack.conftest import SECRET, SlackHarness, is_card, sign_off
from tests.slack.processes import app_environment, mention_envelope
from tests.slack.test_serve_command import _free_port, _get, _post_signed
from tests.support import PLAN

pytestmark = pytest.mark.slow  # starts agentdesk as its own process


pytest.importorskip("claude_agent_sdk", reason="the agentdesk[implement] extra is not installed")

CHANNEL = "C0CRASH"
TOKEN = "ghp_crashtoken0123456789"


def _serve(tmp_path: Path, env: dict[str, str], port: int) -> "subprocess.Popen[str]":
    server = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while _get(f"http://127.0.0.1:{port}/healthz")[0] != 200:
        assert server.poll() is None, server.stdout.read() if server.stdout else ""
        assert time.monotonic() < deadline, "serve did not answer /healthz in 30 s"
        time.sleep(0.1)
    return server


def test_a_run_killed_after_github_opened_the_pull_request_resumes_without_a_second(
    tmp_path: Path,
) -> None:
    bare = make_remote(tmp_path / "remote")
    with (
        FakeSlack(users={"U1": {"real_name": "Alice"}}) as slack,
        FakeAnthropic() as model,
        FakeGitHub(owner="acme", repo="calc", bare_repo=bare, token=TOKEN) as github,
    ):
        env = app_environment(
            slack=slack,
            model=model,
            database=tmp_path / "crash.db",
            SLACK_SIGNING_SECRET=SECRET,
            GH_TOKEN=TOKEN,
            REPOS=f"api=file://{bare}@GH_TOKEN",
            IMPLEMENT_GITHUB_REPOS="api=acme/calc",
            GITHUB_API_URL=github.api_url,
            IMPLEMENT_ENABLED="true",
            TURN_LEASE_SECONDS="10",
        )
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        first = _serve(tmp_path, env, port)
        second = None
        try:
            model.reply_tool_use("deliver_result", PLAN)
            ts, envelope = mention_envelope(
                slack,
                channel=CHANNEL,
                text="backend-feature-developer: Add subtract to calc",
                user="U1",
                event_id="Ev0CRASH",
            )
            assert _post_signed(f"{base}/slack/events", json.dumps(envelope)) == 200
            plan = slack.wait_for(
                lambda: next(
                    (
                        m
                        for m in slack.thread(CHANNEL, ts)
                        if m.get("bot_id") and "OAuth login" in visible_text(m) and not is_card(m)
                    ),
                    None,
                ),
                timeout=20,
                message="the plan in the thread",
            )
            model.default = ClaudeCodeScript(implementation_steps())
            github.create_delay_seconds = 60  # GitHub opens the PR, then the process dies
            clicker: Any = SlackHarness(
                base_url=base,
                slack=slack,
                anthropic=model,
                desk=None,  # type: ignore[arg-type]
                app=None,  # type: ignore[arg-type]
                executor=None,  # type: ignore[arg-type]
            )
            sign_off(clicker, CHANNEL, ts, user="U1")
            clicker.click(plan, "Implement", user="U1")
            slack.wait_for(lambda: github.pulls or None, timeout=60, message="a pull request")
            os.killpg(first.pid, signal.SIGKILL)
            first.communicate(timeout=20)
            github.create_delay_seconds = 0

            model.default = ClaudeCodeScript(
                [ToolUseSpec("Bash", {"command": RUN_TESTS, "description": "tests"}), "Done."]
            )
            second = _serve(tmp_path, env, port)
            done = slack.wait_for(
                lambda: next(
                    (
                        m
                        for m in slack.thread(CHANNEL, ts)
                        if "Updated pull request #1" in visible_text(m)
                    ),
                    None,
                ),
                timeout=90,
                message="the resumed run's pull request link",
            )
            texts = [visible_text(m) for m in slack.thread(CHANNEL, ts) if m.get("bot_id")]
            assert any("agentdesk restarted" in t for t in texts)
            assert len(github.pulls) == 1
            assert github.pulls[0]["html_url"] in visible_text(done)
            assert texts[-1] == visible_text(done)
        finally:
            for server in (first, second):
                if server is not None and server.poll() is None:
                    server.send_signal(signal.SIGTERM)
                    server.communicate(timeout=30)
    with make_engine(f"sqlite:///{tmp_path / 'crash.db'}").connect() as connection:
        row = connection.execute(text("SELECT status, attempts FROM implementation_run")).one()
    assert tuple(row) == ("succeeded", 2)
