"""Implementation runs against the fakes: Claude Code edits a fixture repository, agentdesk
pushes the branch and opens one draft pull request."""

from bot.store.models import ImplementationStatus, MessageKind
from tests.fakes.anthropic_server import ClaudeCodeScript
from tests.implement.conftest import REQUESTER, TOKEN, ImplementBench
from tests.implement.support import SUMMARY, git, implementation_steps


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
