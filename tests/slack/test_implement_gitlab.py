"""Implementation runs end to end over real HTTP, for a repository on GitLab: a plan in Slack
becomes a draft merge request on the fake GitLab, Claude Code driven by the fake model."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.anthropic_server import ClaudeCodeScript
from tests.fakes.gitlab_server import FakeGitLab
from tests.fakes.slack_server import visible_text
from tests.implement.support import (
    SUMMARY,
    follow_up_steps,
    git,
    implementation_steps,
    make_remote,
)
from tests.slack.conftest import CHANNEL, SlackHarness, sign_off
from tests.support import PLAN

pytest.importorskip("claude_agent_sdk", reason="the agentdesk[implement] extra is not installed")
pytest.importorskip("gitlab", reason="the agentdesk[implement] extra is not installed")

TOKEN = "glpat-e2eGitLabToken0123456789"
RUN_SECONDS = 60.0


@pytest.fixture
def gitlab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitLab]:
    monkeypatch.setenv("GL_TOKEN", TOKEN)
    bare = make_remote(tmp_path / "remote")
    with FakeGitLab(project_path="acme/platform/calc", bare_repo=bare, token=TOKEN) as fake:
        yield fake


@pytest.fixture
def extra_settings(tmp_path: Path, gitlab: FakeGitLab) -> dict[str, Any]:
    return {
        "repos": f"api=file://{gitlab.bare_repo}@GL_TOKEN",
        "repos_cache_dir": tmp_path / "mirrors",
        "implement_work_dir": tmp_path / "worktrees",
        "implement_gitlab_projects": "api=acme/platform/calc",
        "gitlab_api_url": gitlab.url,
    }


def test_implement_click_ends_in_a_draft_merge_request_linked_in_the_thread(
    harness: SlackHarness, gitlab: FakeGitLab
) -> None:
    assert "runs are on here" in harness.command("channel implement on").body
    harness.anthropic.reply_tool_use("deliver_result", PLAN)
    thread = harness.mention("Add subtract to calc")
    deliverable = harness.wait_for_text(CHANNEL, thread, "OAuth login")
    sign_off(harness, CHANNEL, thread)
    harness.wait_idle()
    harness.anthropic.default = ClaudeCodeScript(implementation_steps())

    harness.click(deliverable, "Implement")
    done = harness.wait_for_text(CHANNEL, thread, "Opened draft merge request !1", RUN_SECONDS)
    harness.wait_idle()

    conversation = harness.conversation_of(CHANNEL, thread)
    branch = f"agentdesk/conversation-{conversation.id}"
    (merge,) = gitlab.merge_requests
    assert merge["draft"] and merge["title"].startswith("Draft: ")
    assert (merge["source_branch"], merge["target_branch"]) == (branch, "main")
    assert SUMMARY in merge["description"] and "## Requirements and plan" in merge["description"]
    assert "Approved by alice" in merge["description"]
    assert "def subtract" in git("show", f"{branch}:calc.py", cwd=gitlab.bare_repo)
    texts = [visible_text(m) for m in harness.bot_messages(CHANNEL, thread)]
    assert merge["web_url"] in visible_text(done) and texts[-1] == visible_text(done)
    assert all(TOKEN not in text for text in texts)

    # A reply from the requester adds a commit to the same merge request.
    harness.anthropic.default = ClaudeCodeScript(follow_up_steps())
    harness.say("Please say in the docstring that it can go negative.", thread_ts=thread)
    updated = harness.wait_for_text(CHANNEL, thread, "Updated merge request !1", RUN_SECONDS)
    harness.wait_idle()
    assert len(gitlab.merge_requests) == 1
    assert len(gitlab.calls_to("POST", "/merge_requests")) == 1
    assert len(gitlab.commits_on(branch)) == 2
    assert merge["web_url"] in visible_text(updated)
    assert all(call.private_token == TOKEN for call in gitlab.calls)
