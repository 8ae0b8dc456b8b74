"""Implementation runs whose repository is a GitLab project: agentdesk pushes the branch and
opens one draft merge request on the fake GitLab, through python-gitlab."""

import logging
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.store.db import session_scope
from bot.store.models import ImplementationRun, ImplementationStatus, MessageKind
from tests.fakes.anthropic_server import ClaudeCodeScript, ToolUseSpec
from tests.fakes.gitlab_server import FakeGitLab
from tests.implement.conftest import REQUESTER, ImplementBench, bench_on
from tests.implement.support import (
    RUN_TESTS,
    SUMMARY,
    follow_up_steps,
    git,
    implementation_steps,
    make_remote,
)

GITLAB_TOKEN = "glpat-fixtureGitLabToken0123"
PROJECT = "acme/tools/calc"
THREAD_URL = "https://slack.example/archives/C1/p1700000000000100"


@dataclass
class GitLabBench(ImplementBench):
    """The bench with its repository `api` opening merge requests on a fake GitLab."""

    gitlab: FakeGitLab


@pytest.fixture
def gitlab_bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitLabBench]:
    monkeypatch.setenv("GL_TOKEN", GITLAB_TOKEN)
    bare = make_remote(tmp_path)
    with FakeGitLab(project_path=PROJECT, bare_repo=bare, token=GITLAB_TOKEN) as gitlab:
        for bench in bench_on(
            bare,
            tmp_path,
            monkeypatch,
            repos=f"api=file://{bare}@GL_TOKEN",
            implement_github_repos="",
            implement_gitlab_projects=f"api={PROJECT}",
            gitlab_api_url=gitlab.url,
        ):
            yield GitLabBench(
                **{field.name: getattr(bench, field.name) for field in fields(bench)},
                gitlab=gitlab,
            )


def _start(bench: GitLabBench, conversation_id: int) -> None:
    outcome = bench.service.start_implementation(
        conversation_id=conversation_id,
        user_id=REQUESTER,
        user_name="Alice",
        thread_url=THREAD_URL,
    )
    assert outcome.started, outcome.message


def test_a_run_opens_one_draft_merge_request_and_a_reply_adds_a_commit_to_it(
    gitlab_bench: GitLabBench, caplog: pytest.LogCaptureFixture
) -> None:
    bench = gitlab_bench
    caplog.set_level(logging.DEBUG)
    conversation_id = bench.conversation()
    bench.model.default = ClaudeCodeScript(implementation_steps())
    _start(bench, conversation_id)
    assert bench.run_queued() == [ImplementationStatus.SUCCEEDED]

    branch = f"agentdesk/conversation-{conversation_id}"
    (merge,) = bench.gitlab.merge_requests
    assert merge["draft"] is True and merge["title"] == "Draft: Add subtract to calc"
    assert (merge["source_branch"], merge["target_branch"]) == (branch, "main")
    assert SUMMARY in merge["description"] and "Add `subtract(a, b)`" in merge["description"]
    assert THREAD_URL in merge["description"] and "passed" in merge["description"]
    assert "def subtract" in git("show", f"{branch}:calc.py", cwd=bench.bare)
    assert bench.gitlab.commits_on(branch) == ["Add subtract to calc"]
    last = bench.notices(conversation_id)[-1]
    assert last.kind is MessageKind.NOTICE
    assert f"Opened draft merge request !1: {merge['web_url']}" in last.text
    assert "calc.py" in last.text
    (run,) = bench.runs()
    assert (run.pr_number, run.pr_url) == (1, merge["web_url"])
    # The project by its encoded path, then the lookup by source branch, then the creation.
    calls = [(c.method, c.path) for c in bench.gitlab.calls]
    lookup = ("GET", f"/api/v4/projects/{bench.gitlab.project_id}/merge_requests")
    creation = ("POST", f"/api/v4/projects/{bench.gitlab.project_id}/merge_requests")
    assert calls[0] == ("GET", "/api/v4/projects/acme%2Ftools%2Fcalc")
    assert calls.index(lookup) < calls.index(creation)
    assert bench.gitlab.calls[calls.index(lookup)].query == {
        "state": ["opened"],
        "source_branch": [branch],
    }

    # A reply from the requester: a new commit on the branch, the same merge request updated.
    bench.model.default = ClaudeCodeScript(follow_up_steps())
    assert bench.reply("Please note in the docstring that it can go negative.").follow_up
    assert bench.run_queued() == [ImplementationStatus.SUCCEEDED]
    assert len(bench.gitlab.merge_requests) == 1
    assert len(bench.gitlab.calls_to("POST", "/merge_requests")) == 1
    (update,) = bench.gitlab.calls_to("PUT", "/merge_requests/1")
    assert set(update.body) == {"description"}
    assert "negative" in merge["description"]
    assert len(bench.gitlab.commits_on(branch)) == 2
    assert "negative when b is larger" in git("show", f"{branch}:calc.py", cwd=bench.bare)
    last = bench.notices(conversation_id)[-1]
    assert f"Updated merge request !1: {merge['web_url']}" in last.text

    # The token went in the PRIVATE-TOKEN header only; nothing went to GitHub.
    assert all(c.private_token == GITLAB_TOKEN for c in bench.gitlab.calls)
    assert bench.github.calls == []
    assert not any(GITLAB_TOKEN in m.text for m in bench.notices(conversation_id))
    assert caplog.records and GITLAB_TOKEN not in caplog.text
    assert not any(GITLAB_TOKEN in repr(r) for r in bench.runs())


def test_a_run_cut_short_after_gitlab_opened_its_merge_request_finds_it_again(
    gitlab_bench: GitLabBench,
) -> None:
    bench = gitlab_bench
    conversation_id = bench.conversation()
    bench.model.default = ClaudeCodeScript(implementation_steps())
    _start(bench, conversation_id)
    bench.run_queued()
    # As if the process died after GitLab opened the merge request but before it was stored.
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
    assert len(bench.gitlab.merge_requests) == 1
    assert len(bench.gitlab.calls_to("POST", "/merge_requests")) == 1
    texts = [m.text for m in bench.notices(conversation_id)]
    assert any("agentdesk restarted" in t for t in texts)
    assert "Updated merge request !1" in texts[-1]


def test_gitlab_refusing_the_token_fails_the_run_with_what_it_said(
    gitlab_bench: GitLabBench,
) -> None:
    bench = gitlab_bench
    bench.gitlab.token = "glpat-anotherTokenAltogether"
    conversation_id = bench.conversation()
    bench.model.default = ClaudeCodeScript(implementation_steps())
    _start(bench, conversation_id)
    assert bench.run_queued() == [ImplementationStatus.FAILED]
    last = bench.notices(conversation_id)[-1]
    assert last.kind is MessageKind.FAILURE
    assert (
        "The branch is pushed, but the merge request failed: GitLab answered 401 for "
        f"{PROJECT}: 401 Unauthorized" in last.text
    )
    assert GITLAB_TOKEN not in last.text and "Retry" in last.text
    assert bench.gitlab.merge_requests == []
