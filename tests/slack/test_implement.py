"""Implementation runs end to end over real HTTP: a plan in Slack becomes a draft pull
request on the fake GitHub, Claude Code driven by the fake model in a real sandbox."""

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.store.models import ImplementationRun, ImplementationStatus
from tests.fakes.anthropic_server import ClaudeCodeScript
from tests.fakes.github_server import FakeGitHub
from tests.fakes.slack_server import visible_text
from tests.implement.support import (
    SUMMARY,
    follow_up_steps,
    git,
    implementation_steps,
    make_remote,
)
from tests.slack.conftest import ALICE, BOB, BOT_USER, CHANNEL, SlackHarness, sign_off
from tests.support import PLAN

pytest.importorskip("claude_agent_sdk", reason="the agentdesk[implement] extra is not installed")

TOKEN = "ghp_e2etoken0123456789abcdef"
RUN_SECONDS = 60.0


@pytest.fixture
def github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    monkeypatch.setenv("GH_TOKEN", TOKEN)
    bare = make_remote(tmp_path / "remote")
    with FakeGitHub(owner="acme", repo="calc", bare_repo=bare, token=TOKEN) as fake:
        yield fake


@pytest.fixture
def extra_settings(tmp_path: Path, github: FakeGitHub) -> dict[str, Any]:
    return {
        "repos": f"api=file://{github.bare_repo}@GH_TOKEN",
        "repos_cache_dir": tmp_path / "mirrors",
        "implement_work_dir": tmp_path / "worktrees",
        "implement_github_repos": "api=acme/calc",
        "github_api_url": github.api_url,
    }


def _plan_in_thread(harness: SlackHarness) -> tuple[str, dict[str, Any]]:
    harness.anthropic.reply_tool_use("deliver_result", PLAN)
    thread = harness.mention("Add subtract to calc")
    deliverable = harness.wait_for_text(CHANNEL, thread, "OAuth login")
    sign_off(harness, CHANNEL, thread)
    harness.wait_idle()
    return thread, deliverable


def _last_text(harness: SlackHarness, thread: str) -> str:
    return visible_text(harness.bot_messages(CHANNEL, thread)[-1])


def test_implement_click_ends_in_a_draft_pull_request_linked_in_the_thread(
    harness: SlackHarness, github: FakeGitHub
) -> None:
    assert "runs are on here" in harness.command("channel implement on").body
    thread, deliverable = _plan_in_thread(harness)
    harness.anthropic.default = ClaudeCodeScript(implementation_steps())

    harness.click(deliverable, "Implement")
    done = harness.wait_for_text(CHANNEL, thread, "Opened draft pull request", RUN_SECONDS)
    harness.wait_idle()

    conversation = harness.conversation_of(CHANNEL, thread)
    branch = f"agentdesk/conversation-{conversation.id}"
    (pull,) = github.pulls
    assert pull["draft"] and pull["head"]["ref"] == branch and pull["base"]["ref"] == "main"
    assert SUMMARY in pull["body"] and "## Requirements and plan" in pull["body"]
    assert "Acceptance criteria" in pull["body"] and "Approved by alice" in pull["body"]
    assert "Use authlib" in pull["body"]  # the plan from the thread
    assert f"{CHANNEL}" in pull["body"]  # the permalink of the thread
    assert "passed" in pull["body"]
    assert "def subtract" in git("show", f"{branch}:calc.py", cwd=github.bare_repo)
    texts = [visible_text(m) for m in harness.bot_messages(CHANNEL, thread)]
    progress = "\n".join(texts)
    assert (
        "Implementing the signed-off card in *api*" in progress
        or "Implementing the signed-off card in api" in progress
    )
    assert "read `calc.py`" in progress and "edited `calc.py`" in progress
    assert "python3 -m unittest" in progress
    assert pull["html_url"] in visible_text(done) and texts[-1] == visible_text(done)
    assert "calc.py" in visible_text(done)
    assert all(TOKEN not in text for text in texts)

    # A reply from the requester adds a commit to the same pull request.
    harness.anthropic.default = ClaudeCodeScript(follow_up_steps())
    harness.say("Please say in the docstring that it can go negative.", thread_ts=thread)
    harness.wait_for_text(CHANNEL, thread, "Updated pull request #1", RUN_SECONDS)
    harness.wait_idle()
    assert len(github.pulls) == 1
    assert len(github.commits_on(branch)) == 2
    assert pull["html_url"] in _last_text(harness, thread)


def test_the_button_explains_itself_where_runs_are_off(harness: SlackHarness) -> None:
    thread, deliverable = _plan_in_thread(harness)
    harness.click(deliverable, "Implement", response_name="off")
    reply = harness.slack.wait_for(
        lambda: harness.slack.responses("off") or None, timeout=10, message="an answer"
    )
    assert "/feature channel implement on" in reply[0]["text"]
    harness.wait_idle()
    assert len(harness.bot_messages(CHANNEL, thread)) == 2  # the plan, the sign-off


def test_feature_implement_and_a_thread_reply_start_runs(
    harness: SlackHarness, github: FakeGitHub
) -> None:
    harness.command("channel implement on")
    thread, _ = _plan_in_thread(harness)
    conversation = harness.conversation_of(CHANNEL, thread)
    refused = harness.command(f"implement {conversation.id}", user=BOB)
    assert "Only the person who asked" in refused.body
    harness.anthropic.default = ClaudeCodeScript(implementation_steps())
    started = harness.command(f"implement {conversation.id}")
    assert f"Implementing request {conversation.id}" in started.body
    harness.wait_for_text(CHANNEL, thread, "Opened draft pull request", RUN_SECONDS)
    harness.wait_idle()

    # `@agentdesk implement` in the thread runs it again on the same branch and pull request.
    harness.anthropic.default = ClaudeCodeScript(follow_up_steps())
    harness.say(f"<@{BOT_USER}> implement", thread_ts=thread, user=ALICE)
    harness.wait_for_text(CHANNEL, thread, "Updated pull request #1", RUN_SECONDS)
    harness.wait_idle()
    assert len(github.pulls) == 1
    with Session(harness.desk.engine) as session:
        runs = session.exec(select(ImplementationRun)).all()
    assert [r.status for r in runs] == [ImplementationStatus.SUCCEEDED] * 2


def test_stop_button_ends_the_run_with_a_message(harness: SlackHarness, github: FakeGitHub) -> None:
    harness.command("channel implement on")
    thread, deliverable = _plan_in_thread(harness)
    harness.anthropic.default = ClaudeCodeScript(implementation_steps(), delay_seconds=1.0)
    harness.click(deliverable, "Implement")
    started = harness.wait_for_text(CHANNEL, thread, "Implementing the signed-off card")
    harness.click(started, "Stop", user=ALICE)
    stopped = harness.wait_for_text(CHANNEL, thread, "Stopped by", RUN_SECONDS)
    harness.wait_idle()
    assert "Nothing was pushed" in visible_text(stopped)
    assert github.pulls == []
    retry = harness.bot_messages(CHANNEL, thread)[-1]
    harness.anthropic.default = ClaudeCodeScript(implementation_steps())
    harness.click(retry, "Retry")
    harness.wait_for_text(CHANNEL, thread, "Opened draft pull request", RUN_SECONDS)
    harness.wait_idle()
    assert len(github.pulls) == 1


def test_without_the_extra_the_button_says_how_to_enable_it(
    harness: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.command("channel implement on")
    thread, deliverable = _plan_in_thread(harness)
    monkeypatch.setitem(sys.modules, "claude_agent_sdk", None)  # as if never installed
    harness.click(deliverable, "Implement", response_name="no-extra")
    reply = harness.slack.wait_for(
        lambda: harness.slack.responses("no-extra") or None, timeout=10, message="an answer"
    )
    assert "pip install 'agentdesk[implement]'" in reply[0]["text"]
    harness.wait_idle()
    assert len(harness.bot_messages(CHANNEL, thread)) == 2  # the plan, the sign-off
