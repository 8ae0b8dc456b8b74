"""Implementation runs against the fakes: Claude Code edits a fixture repository, agentdesk
pushes the branch and opens one draft pull request."""

import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.implement import ImplementationService, ImplementationWorker, sandbox_missing
from bot.repos import build_repo_set
from bot.store.db import session_scope
from bot.store.models import Conversation, ImplementationRun, ImplementationStatus, MessageKind
from tests.fakes.anthropic_server import ClaudeCodeScript, ToolUseSpec
from tests.implement.conftest import OTHER, REQUESTER, TOKEN, ImplementBench
from tests.implement.support import (
    RUN_TESTS,
    SUMMARY,
    follow_up_steps,
    git,
    implementation_steps,
)
from tests.repos.git_http import GitHttpServer


def test_a_run_pushes_the_branch_and_opens_a_draft_pull_request(bench: ImplementBench) -> None:
    conversation_id = bench.conversation()
    script = ClaudeCodeScript(implementation_steps())
    bench.model.default = script
    outcome = bench.service.start_implementation(
        conversation_id=conversation_id,
        user_id=REQUESTER,
        user_name="Alice",
        thread_url="https://slack.example/archives/C1/p1700000000000100",
    )
    assert outcome.started, outcome.message
    assert bench.run_queued() == [ImplementationStatus.SUCCEEDED]

    branch = f"agentdesk/conversation-{conversation_id}"
    (pull,) = bench.github.pulls
    assert pull["draft"] is True
    assert pull["head"]["ref"] == branch and pull["base"]["ref"] == "main"
    body = pull["body"]
    assert SUMMARY in body and "Add `subtract(a, b)`" in body
    assert "https://slack.example/archives/C1/p1700000000000100" in body
    assert "python3 -m unittest discover" in body and "passed" in body
    pushed = git("show", f"{branch}:calc.py", cwd=bench.bare)
    assert "def subtract" in pushed
    assert bench.github.commits_on(branch) == ["Add subtract to calc"]
    assert "def subtract" not in git("show", "main:calc.py", cwd=bench.bare)
    # the tests ran inside Claude Code and passed
    assert any("OK" in r.content for r in script.results)
    last = bench.notices(conversation_id)[-1]
    assert last.kind is MessageKind.NOTICE
    assert pull["html_url"] in last.text and "calc.py" in last.text
    assert all(c.authorization == f"token {TOKEN}" for c in bench.github.calls)
    assert not any(TOKEN in m.text for m in bench.notices(conversation_id))
    assert not list((bench.settings.implement_work_dir).iterdir())  # worktree removed


def _start(bench: ImplementBench, conversation_id: int, user: str = REQUESTER) -> None:
    outcome = bench.service.start_implementation(
        conversation_id=conversation_id, user_id=user, user_name="Alice"
    )
    assert outcome.started, outcome.message


def test_a_reply_after_the_pull_request_adds_a_commit_to_it(bench: ImplementBench) -> None:
    conversation_id = bench.conversation()
    bench.model.default = ClaudeCodeScript(implementation_steps())
    _start(bench, conversation_id)
    bench.run_queued()
    bench.model.default = ClaudeCodeScript(follow_up_steps())
    assert bench.reply("Please note in the docstring that it can go negative.").follow_up
    assert bench.run_queued() == [ImplementationStatus.SUCCEEDED]
    branch = f"agentdesk/conversation-{conversation_id}"
    assert len(bench.github.pulls) == 1
    assert len(bench.github.commits_on(branch)) == 2
    assert "negative when b is larger" in git("show", f"{branch}:calc.py", cwd=bench.bare)
    assert bench.github.calls_to("PATCH", "/pulls/1")
    last = bench.notices(conversation_id)[-1]
    assert "Updated pull request #1" in last.text and bench.github.pulls[0]["html_url"] in last.text
    # the same reply delivered again is not a second run
    assert bench.reply("Please note in the docstring that it can go negative.").duplicate
    assert len(bench.runs()) == 2
    # someone who may not start runs is answered by the agent instead
    other = bench.reply("Could it also multiply?", ts="1700000100.000300", user_id=OTHER)
    assert not other.follow_up and other.work_id is not None
    assert len(bench.runs()) == 2


def test_who_may_start_and_where(bench: ImplementBench) -> None:
    conversation_id = bench.conversation()
    refused = bench.service.start_implementation(
        conversation_id=conversation_id, user_id=OTHER, user_name="Bob"
    )
    assert not refused.started and "Only the person who asked" in refused.message
    bench.service.settings = bench.settings.model_copy(update={"implement_enabled": False})
    off = bench.service.start_implementation(
        conversation_id=conversation_id, user_id=REQUESTER, user_name="Alice"
    )
    assert not off.started and "/feature channel implement on" in off.message
    bench.service.set_channel(team_id="T1", channel_id="C1", enabled=True)
    bench.service.settings = bench.settings.model_copy(
        update={"implement_enabled": False, "implement_approvers": OTHER}
    )
    assert bench.service.start_implementation(
        conversation_id=conversation_id, user_id=OTHER, user_name="Bob"
    ).started
    again = bench.service.start_implementation(
        conversation_id=conversation_id, user_id=OTHER, user_name="Bob"
    )
    assert not again.started and "already" in again.message
    assert len(bench.runs()) == 1


def test_an_agent_that_may_only_read_cannot_implement(bench: ImplementBench) -> None:
    conversation_id = bench.conversation()
    with session_scope(bench.service.engine) as session:
        conversation = session.get(Conversation, conversation_id)
        assert conversation is not None
        conversation.agent = "frontend-feature-developer"
    (bench.settings.agents_dir / "frontend-feature-developer.md").write_text(
        "---\nname: frontend-feature-developer\ndescription: UI work\ntools: Read, Grep, Glob\n"
        "---\nYou build user interfaces.\n",
        encoding="utf-8",
    )
    refused = bench.service.start_implementation(
        conversation_id=conversation_id, user_id=REQUESTER, user_name="Alice"
    )
    assert not refused.started and "may only read code" in refused.message


@pytest.mark.parametrize(
    ("budget", "usage", "said"),
    [
        ({"implement_max_turns": 2}, None, "IMPLEMENT_MAX_TURNS"),
        (
            {"implement_max_cost_usd": 0.5},
            {"input_tokens": 400_000, "output_tokens": 100},
            "IMPLEMENT_MAX_COST_USD",
        ),
    ],
)
def test_a_budget_running_out_stops_cleanly_with_a_message(
    bench: ImplementBench, budget: dict[str, Any], usage: dict[str, int] | None, said: str
) -> None:
    bench.service.settings = bench.settings.model_copy(update=budget)
    conversation_id = bench.conversation()
    bench.model.default = ClaudeCodeScript(implementation_steps(), usage=usage)
    _start(bench, conversation_id)
    assert bench.run_queued() == [ImplementationStatus.FAILED]
    last = bench.notices(conversation_id)[-1]
    assert last.kind is MessageKind.FAILURE
    assert said in last.text and "Nothing was pushed" in last.text and "Retry" in last.text
    assert bench.github.pulls == []
    assert bench.github.branch_sha(f"agentdesk/conversation-{conversation_id}") is None


def test_wall_time_running_out_interrupts_claude_code(bench: ImplementBench) -> None:
    bench.service.settings = bench.settings.model_copy(update={"implement_max_seconds": 2})
    conversation_id = bench.conversation()
    bench.model.default = ClaudeCodeScript(implementation_steps(), delay_seconds=8)
    _start(bench, conversation_id)
    started = time.monotonic()
    assert bench.run_queued() == [ImplementationStatus.FAILED]
    assert time.monotonic() - started < 7
    last = bench.notices(conversation_id)[-1]
    assert "IMPLEMENT_MAX_SECONDS" in last.text and "Nothing was pushed" in last.text


def test_stop_ends_a_run_cleanly(bench: ImplementBench) -> None:
    conversation_id = bench.conversation()
    bench.model.default = ClaudeCodeScript(implementation_steps(), delay_seconds=1.0)
    _start(bench, conversation_id)
    run = bench.service.claim_next()
    assert run is not None
    states: list[ImplementationStatus] = []
    worker = threading.Thread(
        target=lambda: states.append(bench.service.run_implementation_job(run))
    )
    worker.start()
    bench.model.wait_for_requests(1, timeout=30)
    assert bench.service.stop_implementation(conversation_id=conversation_id, by="Bob")
    worker.join(timeout=30)
    assert states == [ImplementationStatus.CANCELLED]
    last = bench.notices(conversation_id)[-1]
    assert "Stopped by Bob" in last.text and "Nothing was pushed" in last.text
    assert bench.github.pulls == []


def test_a_run_cut_short_after_opening_its_pull_request_resumes_without_a_second(
    bench: ImplementBench,
) -> None:
    conversation_id = bench.conversation()
    bench.model.default = ClaudeCodeScript(implementation_steps())
    _start(bench, conversation_id)
    bench.run_queued()
    # As if the process died after GitHub opened the pull request but before it was stored.
    with session_scope(bench.service.engine) as session:
        (run,) = session.exec(select(ImplementationRun)).all()
        run.status = ImplementationStatus.RUNNING
        run.leased_by = "a-dead-process"
        run.lease_until = datetime.now(UTC) - timedelta(seconds=1)
        run.pr_url = run.pr_number = run.finished_at = None
    bench.model.default = ClaudeCodeScript(
        [ToolUseSpec("Bash", {"command": RUN_TESTS, "description": "tests"}), SUMMARY]
    )
    assert bench.run_queued() == [ImplementationStatus.SUCCEEDED]
    assert len(bench.github.pulls) == 1
    texts = [m.text for m in bench.notices(conversation_id)]
    assert any("agentdesk restarted" in t for t in texts)
    assert "Updated pull request #1" in texts[-1]


def test_a_run_interrupted_twice_fails_with_retry(bench: ImplementBench) -> None:
    conversation_id = bench.conversation()
    _start(bench, conversation_id)
    with session_scope(bench.service.engine) as session:
        (run,) = session.exec(select(ImplementationRun)).all()
        run.status = ImplementationStatus.RUNNING
        run.attempts = 2
        run.leased_by = "a-dead-process"
        run.lease_until = datetime.now(UTC) - timedelta(seconds=1)
    assert bench.run_queued() == [ImplementationStatus.FAILED]
    last = bench.notices(conversation_id)[-1]
    assert last.kind is MessageKind.FAILURE and "interrupted 2 times" in last.text
    assert last.payload and last.payload["retryable"]
    bench.model.default = ClaudeCodeScript(implementation_steps())
    assert bench.service.retry_implementation(
        conversation_id=conversation_id, user_id=REQUESTER
    ).started
    assert bench.run_queued() == [ImplementationStatus.SUCCEEDED]
    assert len(bench.github.pulls) == 1


@pytest.mark.skipif(sandbox_missing() is not None, reason="bubblewrap and socat are needed")
def test_the_sandbox_refuses_the_network_and_writes_outside_the_worktree(
    bench: ImplementBench, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    probe = f"{bench.github.api_url}/sandbox-probe"
    conversation_id = bench.conversation()
    script = ClaudeCodeScript(
        [
            ToolUseSpec(
                "Bash",
                {
                    "command": f"python3 -c \"import urllib.request; urllib.request.urlopen('{probe}')\"",
                    "description": "reach the network",
                },
            ),
            ToolUseSpec(
                "Bash", {"command": f"echo escaped > {outside}/bash.txt", "description": "w"}
            ),
            ToolUseSpec("Write", {"file_path": f"{outside}/edit.txt", "content": "escaped"}),
            "I could not do it.",
        ]
    )
    bench.model.default = script
    _start(bench, conversation_id)
    assert bench.run_queued() == [ImplementationStatus.SUCCEEDED]
    assert not bench.github.calls_to("GET", "/sandbox-probe")
    network, shell_write, edit = script.results
    assert network.is_error and "urlopen" in network.content
    # agentdesk's folders are hidden from the sandbox, the rest of the disk is read-only
    assert shell_write.is_error
    assert any(
        reason in shell_write.content
        for reason in ("Read-only file system", "No such file or directory")
    )
    assert edit.is_error and "outside the worktree" in edit.content
    assert list(outside.iterdir()) == []
    assert bench.github.pulls == []
    texts = "\n".join(m.text for m in bench.notices(conversation_id))
    assert "outside the worktree is not allowed" in texts
    assert "without changing any file" in texts


def test_without_the_sandbox_commands_are_refused_and_the_pr_says_so(
    bench: ImplementBench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A machine without bubblewrap and socat: only git and python3 on PATH.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git", "python3"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert sandbox_missing() is not None
    conversation_id = bench.conversation()
    script = ClaudeCodeScript(implementation_steps())
    bench.model.default = script
    _start(bench, conversation_id)
    assert bench.run_queued() == [ImplementationStatus.SUCCEEDED]
    (pull,) = bench.github.pulls
    assert "Tests were not run: the command sandbox could not start" in pull["body"]
    assert not any("OK" in r.content for r in script.results)  # the suite never ran
    texts = [m.text for m in bench.notices(conversation_id)]
    assert any("Commands are refused in this run" in t for t in texts)
    assert "Tests were not run" in texts[-1]


def test_the_push_over_http_carries_the_token_only_in_a_header(bench: ImplementBench) -> None:
    server = GitHttpServer(bench.bare.parent, credentials=f"x-access-token:{TOKEN}")
    with server.running():
        url = server.url(bench.bare.name)
        settings = bench.settings.model_copy(
            update={"repos": f"api={url}@GH_TOKEN", "implement_github_repos": "api=acme/calc"}
        )
        bench.service.settings = settings
        bench.service.repos = build_repo_set(settings)
        conversation_id = bench.conversation()
        bench.model.default = ClaudeCodeScript(implementation_steps())
        _start(bench, conversation_id)
        assert bench.run_queued() == [ImplementationStatus.SUCCEEDED]
    branch = f"agentdesk/conversation-{conversation_id}"
    assert "def subtract" in git("show", f"{branch}:calc.py", cwd=bench.bare)
    assert len(server.authorizations) >= 3 and None not in server.authorizations
    mirror = settings.repos_cache_dir / "api"
    assert TOKEN not in (mirror / ".git" / "config").read_text(encoding="utf-8")
    assert TOKEN not in git("remote", "-v", cwd=mirror)
    (run,) = bench.runs()
    assert TOKEN not in repr(run)
    assert all(TOKEN not in m.text for m in bench.notices(conversation_id))


def test_a_clean_shutdown_hands_the_run_back_for_the_next_start(bench: ImplementBench) -> None:
    conversation_id = bench.conversation()
    bench.model.default = ClaudeCodeScript(implementation_steps(), delay_seconds=1.0)
    _start(bench, conversation_id)
    worker = ImplementationWorker(bench.service, on_posted=bench.posted.append, threads=1)
    worker.start()
    bench.model.wait_for_requests(1, timeout=30)
    worker.stop(timeout=30)
    (run,) = bench.runs()
    assert (run.status, run.attempts, run.leased_by) == (ImplementationStatus.QUEUED, 0, None)
    assert "goes back to the queue" in bench.notices(conversation_id)[-1].text

    restarted = ImplementationService(
        settings=bench.settings,
        engine=bench.service.engine,
        registry=bench.service.registry,
        repos=bench.service.repos,
    )
    bench.service = restarted
    bench.model.default = ClaudeCodeScript(implementation_steps())
    assert bench.run_queued() == [ImplementationStatus.SUCCEEDED]
    (run,) = bench.runs()
    assert run.attempts == 1 and len(bench.github.pulls) == 1
