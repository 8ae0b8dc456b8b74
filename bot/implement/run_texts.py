"""What a run says: the prompt Claude Code gets, and the texts of the thread and of the pull
request (the plan, the tests as their output showed them, what was left out, a leak)."""

from sqlmodel import Session

from bot.implement.claude_code import ClaudeCodeOutcome
from bot.implement.leaks import Finding
from bot.implement.setup_step import SetupResult
from bot.implement.worktree import Worktree
from bot.store import message_records
from bot.store.models import (
    ImplementationRun,
    Message,
    MessageKind,
)

BODY_PLAN_CHARS = 30_000  # the plan as the pull request quotes it


def latest_plan(session: Session, conversation_id: int) -> Message | None:
    """The conversation's newest plan message, if the agent delivered one."""
    for message in reversed(
        message_records.thread_messages(session=session, conversation_id=conversation_id)
    ):
        if message.kind is MessageKind.DELIVERABLE:
            return message
    return None


def plan_text(message: Message) -> str:
    """The plan document of a plan message."""
    payload = message.payload or {}
    return str(payload.get("document") or message.text)


def run_prompt(run: ImplementationRun, worktree: Worktree, *, first: bool) -> str:
    """What Claude Code is asked: the signed-off card and plan, or a reply to work in."""
    where = (
        f"You are working in a git worktree of the repository on branch `{worktree.branch}` "
        f"(based on `{worktree.base_branch}`). Edit files only inside it. Commands run in a "
        "sandbox without network access. Do not commit or push: agentdesk commits your "
        "changes and opens the pull request. Run the project's tests before you finish, and "
        "end with a short summary of what you changed and how the tests went."
    )
    if first:
        return f"Implement this approved plan.\n\n{where}\n\n<plan>\n{run.instructions}\n</plan>"
    return (
        "The pull request for this branch already holds earlier work. The requester replied in "
        f"the thread; change the code accordingly.\n\n{where}\n\n<reply>\n{run.instructions}\n"
        "</reply>"
    )


def tests_line(outcome: ClaudeCodeOutcome, *, sandboxed: bool) -> str:
    """One line on the tests the run's commands ran, as their output showed them."""
    if not sandboxed:
        return "Tests were not run: the command sandbox cannot start on this machine."
    tests = [c for c in outcome.commands if c.looks_like_tests]
    if not tests:
        return "No tests were run."
    last = tests[-1]
    return f"Tests: `{last.command[:100]}` {'passed' if last.ok else 'failed'}."


def withheld_text(withheld: list[tuple[str, str]]) -> str:
    """The files left out of the commit, for the thread and the pull request."""
    if not withheld:
        return ""
    files = ", ".join(f"`{path}` ({reason})" for path, reason in withheld)
    return f"\nLeft out of the commit, as it looks like a secret or a database: {files}."


def leak_text(findings: list[Finding]) -> str:
    """Why a run stopped before pushing: what looks like a secret, never its value."""
    places = "; ".join(f"{f.kind} in `{f.where}`" for f in findings[:10])
    return (
        "I stopped before pushing: the change holds what looks like a secret "
        f"({places}). Nothing was pushed, and the value is not shown here."
    )


def pull_request_body(
    *,
    plan: str,
    summary: str,
    diff: str,
    outcome: ClaudeCodeOutcome,
    sandboxed: bool,
    thread_url: str | None,
    withheld: list[tuple[str, str]],
    setup: SetupResult | None = None,
) -> str:
    """The pull or merge request's description."""
    tests = [c for c in outcome.commands if c.looks_like_tests]
    if not sandboxed:
        test_text = "Tests were not run: the command sandbox could not start, so no command ran."
    elif not tests:
        test_text = "No tests were run."
    else:
        test_text = "\n".join(
            f"- `{c.command[:200]}`: {'passed' if c.ok else 'failed'}\n\n  ```\n  "
            + c.output[-300:].replace("\n", "\n  ")
            + "\n  ```"
            for c in tests[-5:]
        )
    thread = f"[the Slack thread]({thread_url})" if thread_url else "the Slack thread"
    setup_text = f"{setup.line()}\n\n" if setup else ""
    return (
        f"Implemented by agentdesk with Claude Code from {thread}.\n\n"
        f"## Summary\n\n{summary or 'No summary given.'}\n\n"
        f"## Change\n\n{diff}{withheld_text(withheld)}\n\n"
        f"## Tests\n\n{setup_text}{test_text}\n\n"
        f"## Requirements and plan\n\n{plan}\n"
    )
