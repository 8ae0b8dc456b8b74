"""A fixture repository with its own tests on a local bare remote, and Claude Code's steps."""

import subprocess
from pathlib import Path

from sqlalchemy.engine import Engine

from bot.store import cards, conversation_records, message_records
from bot.store.db import session_scope
from bot.store.models import (
    CardApproval,
    Conversation,
    ConversationStatus,
    Message,
    MessageKind,
    MessageRole,
    PostState,
)
from tests.fakes.anthropic_server import ClaudeCodeStep, ToolUseSpec

AGENT = "backend-feature-developer"

CALC = '''"""Arithmetic for the fixture project."""


def add(a: int, b: int) -> int:
    """The sum of a and b."""
    return a + b
'''

TEST_CALC = """import unittest

from calc import add


class AddTest(unittest.TestCase):
    def test_add(self) -> None:
        self.assertEqual(add(2, 3), 5)


if __name__ == "__main__":
    unittest.main()
"""

TEST_SUBTRACT = """import unittest

from calc import subtract


class SubtractTest(unittest.TestCase):
    def test_subtract(self) -> None:
        self.assertEqual(subtract(5, 3), 2)
"""

SUBTRACT = '''

def subtract(a: int, b: int) -> int:
    """a minus b."""
    return a - b
'''

PLAN_DOCUMENT = (
    "## Design\n\nAdd `subtract(a, b)` to calc.py.\n\n## Steps\n\n1. Add it.\n2. Test it."
)
RUN_TESTS = "python3 -m unittest discover -q 2>&1 | tail -3"
SUMMARY = "Added subtract() to calc.py with a unit test; the whole suite passes."


def git(*args: str, cwd: Path) -> str:
    """Run git in `cwd`; its stdout."""
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def make_remote(root: Path, files: dict[str, str] | None = None) -> Path:
    """A bare repository (default branch main) holding the fixture project (or `files`);
    its path."""
    source, bare = root / "fixture-src", root / "fixture.git"
    source.mkdir(parents=True)
    files = files or {
        "calc.py": CALC,
        "test_calc.py": TEST_CALC,
        "README.md": "# fixture\n\nRun `python3 -m unittest`.\n",
    }
    for name, text in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text, encoding="utf-8")
    git("init", "--quiet", "--initial-branch=main", cwd=source)
    git("add", ".", cwd=source)
    git(
        "-c", "user.name=Fixture", "-c", "user.email=fixture@example.com",
        "commit", "--quiet", "-m", "Fixture project", cwd=source,
    )  # fmt: skip
    git("clone", "--quiet", "--bare", str(source), str(bare), cwd=root)
    return bare


def implementation_steps() -> list[ClaudeCodeStep]:
    """Read the code, add the function, add its test, run the suite, then summarise."""
    return [
        ToolUseSpec("Read", {"file_path": "{cwd}/calc.py"}),
        ToolUseSpec(
            "Edit",
            {
                "file_path": "{cwd}/calc.py",
                "old_string": "    return a + b\n",
                "new_string": "    return a + b\n" + SUBTRACT,
            },
        ),
        ToolUseSpec("Write", {"file_path": "{cwd}/test_subtract.py", "content": TEST_SUBTRACT}),
        ToolUseSpec("Bash", {"command": RUN_TESTS, "description": "Run the tests"}),
        SUMMARY,
    ]


def follow_up_steps() -> list[ClaudeCodeStep]:
    """The requester asked for a docstring note: one more edit, the tests again."""
    return [
        ToolUseSpec("Read", {"file_path": "{cwd}/calc.py"}),
        ToolUseSpec(
            "Edit",
            {
                "file_path": "{cwd}/calc.py",
                "old_string": '"""a minus b."""',
                "new_string": '"""a minus b (negative when b is larger)."""',
            },
        ),
        ToolUseSpec("Bash", {"command": RUN_TESTS, "description": "Run the tests"}),
        "Documented that subtract() may return a negative number.",
    ]


def signed_off_plan(
    engine: Engine,
    *,
    team_id: str,
    channel_id: str,
    thread_ts: str,
    requester_id: str,
    title: str = "Add subtract to calc",
    post_state: PostState = PostState.NOT_POSTED,
) -> int:
    """A conversation whose agent delivered the fixture plan (posted by the outbox when
    `post_state` is pending), its requirement card signed off by the requester; its id."""
    with session_scope(engine) as session:
        conversation = conversation_records.create_conversation(
            session=session,
            conversation=Conversation(
                team_id=team_id,
                channel_id=channel_id,
                thread_ts=thread_ts,
                requester_id=requester_id,
                agent=AGENT,
                title=title,
                status=ConversationStatus.DELIVERED,
            ),
        )
        assert conversation.id is not None
        message_records.add_message(
            session=session,
            message=Message(
                conversation_id=conversation.id,
                role=MessageRole.ASSISTANT,
                kind=MessageKind.DELIVERABLE,
                text=PLAN_DOCUMENT,
                payload={"title": title, "summary": "s", "document": PLAN_DOCUMENT},
                post_state=post_state,
            ),
        )
        card = cards.add_card_version(
            session=session,
            conversation_id=conversation.id,
            content={
                "title": title,
                "problem": "calc cannot subtract",
                "acceptance_criteria": ["subtract(5, 3) == 2"],
            },
            author=AGENT,
        )
        cards.add_approval(
            session=session,
            approval=CardApproval(
                conversation_id=conversation.id, version=card.version, user_id=requester_id
            ),
        )
        return conversation.id
