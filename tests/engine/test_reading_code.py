"""Agents whose `tools:` allow it read the team's code during a turn, and cite it."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.engine.desk import Desk
from bot.store.models import ConversationStatus, MessageKind
from tests.engine.test_conversation import inbound
from tests.fakes.anthropic_server import FakeAnthropic, MessageSpec, ToolUseSpec
from tests.repos.support import git, write
from tests.support import RecordingPoster, desk_with, make_settings

MODELS_PY = '''"""Tables."""


class Order:
    id: int
    status: str
'''

NO_TOOLS_AGENT = """---
name: copy-writer
description: Writes release notes and announcements.
tools: WebSearch
---
You write copy.
"""


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    root = tmp_path / "upstream"
    root.mkdir()
    git("init", "--quiet", "--initial-branch=main", cwd=root)
    write(root, "shop/models.py", MODELS_PY)
    write(root, ".env", "STRIPE_KEY=sk_live_do_not_read\n")
    git("add", "-A", cwd=root)
    git("commit", "--quiet", "-m", "models", cwd=root)
    return root


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def desk(tmp_path: Path, fake: FakeAnthropic, upstream: Path) -> Iterator[Desk]:
    settings = make_settings(
        tmp_path,
        fake,
        repos=f"shop=file://{upstream}",
        repos_cache_dir=tmp_path / "mirrors",
    )
    (settings.agents_dir / "copy-writer.md").write_text(NO_TOOLS_AGENT, encoding="utf-8")
    with desk_with(settings) as ready:
        assert ready.toolbox is not None
        ready.toolbox.repos.sync_all()  # type: ignore[attr-defined]
        yield ready


def test_the_agent_reads_a_file_then_delivers_a_plan_citing_it(
    desk: Desk, fake: FakeAnthropic, upstream: Path
) -> None:
    poster = RecordingPoster()
    desk.take_in(
        inbound("Add refunds to orders", ts="1.0", explicit_agent="backend-feature-developer")
    )
    fake.reply_tool_use("read_file", {"repo": "shop", "path": "shop/models.py"})
    fake.reply_tool_use("read_file", {"repo": "shop", "path": ".env"})
    fake.reply_tool_use(
        "deliver_result",
        {
            "title": "Refunds",
            "summary": "Add a refunded status to Order.",
            "document": "## Design\n\nExtend `Order.status` (shop/models.py:6).",
        },
    )
    desk.work(poster=poster)

    conversation = desk.conversation(1)
    assert conversation is not None and conversation.status is ConversationStatus.DELIVERED
    first, second, third = (r.body for r in fake.message_requests)
    assert {t["name"] for t in first["tools"]} >= {"read_file", "search_code", "list_files"}
    read_result = second["messages"][-1]["content"][0]
    assert read_result["type"] == "tool_result" and not read_result.get("is_error")
    assert "class Order:" in str(read_result["content"])
    commit = git("rev-parse", "HEAD", cwd=upstream)
    assert commit[:12] in str(read_result["content"])  # it says which commit it read
    secret_result = third["messages"][-1]["content"][0]
    assert secret_result["is_error"] is True
    assert "sk_live_do_not_read" not in str(third)
    assert any("is reading shop:shop/models.py" in line for line in poster.working)

    deliverable = desk.messages(1)[-1]
    assert deliverable.kind is MessageKind.DELIVERABLE and deliverable.payload is not None
    assert deliverable.payload["sources"] == [f"shop:shop/models.py@{commit[:12]}"]
    assert "shop/models.py:6" in deliverable.text
    assert [step["tool"] for step in deliverable.payload["steps"]] == ["read_file", "read_file"]


def test_sources_the_document_forgot_are_listed(desk: Desk, fake: FakeAnthropic) -> None:
    desk.take_in(inbound("Add refunds", ts="1.0", explicit_agent="backend-feature-developer"))
    fake.reply_tool_use("search_code", {"repo": "shop", "pattern": "class Order"})
    fake.reply_tool_use(
        "deliver_result", {"title": "Refunds", "summary": "Plan.", "document": "## Plan"}
    )
    desk.work()
    deliverable = desk.messages(1)[-1]
    assert "## Sources read" in deliverable.text and "shop:shop/models.py" in deliverable.text


def test_an_agent_without_the_tools_gets_none(desk: Desk, fake: FakeAnthropic) -> None:
    desk.take_in(inbound("Announce refunds", ts="1.0", explicit_agent="copy-writer"))
    fake.reply_text("Draft: refunds are here.")
    desk.work()
    names = [t["name"] for t in fake.message_requests[-1].body["tools"]]
    assert names == ["update_requirement_card", "ask_clarifying_questions", "deliver_result"]


@pytest.fixture
def two_steps(tmp_path: Path, fake: FakeAnthropic, upstream: Path) -> Iterator[Desk]:
    """A desk whose agents may make two tool calls a turn, with a request waiting."""
    settings = make_settings(
        tmp_path,
        fake,
        repos=f"shop=file://{upstream}",
        repos_cache_dir=tmp_path / "mirrors",
        agent_max_tool_steps=2,
    )
    with desk_with(settings) as desk:
        assert desk.toolbox is not None
        desk.toolbox.repos.sync_all()  # type: ignore[attr-defined]
        desk.take_in(inbound("Add refunds", ts="1.0", explicit_agent="backend-feature-developer"))
        yield desk


def test_the_step_limit_makes_the_agent_wrap_up(two_steps: Desk, fake: FakeAnthropic) -> None:
    desk = two_steps
    fake.reply_tool_use("list_files", {"repo": "shop"})
    fake.reply_tool_use("read_file", {"repo": "shop", "path": "shop/models.py"})
    fake.reply_tool_use(
        "ask_clarifying_questions", {"questions": [{"question": "Partial refunds?"}]}
    )
    desk.work()
    last = fake.message_requests[-1].body
    assert last["tool_choice"] == {"type": "any"}
    # Under `any`, only asking or delivering is offered: no more reading.
    assert [t["name"] for t in last["tools"]] == ["ask_clarifying_questions", "deliver_result"]
    assert "used this turn's budget for reading" in str(last["messages"][-1])
    conversation = desk.conversation(1)
    assert conversation is not None
    assert conversation.status is ConversationStatus.AWAITING_USER


def test_the_step_limit_holds_inside_one_response(two_steps: Desk, fake: FakeAnthropic) -> None:
    desk = two_steps
    fake.enqueue(
        MessageSpec(
            content=[
                ToolUseSpec("list_files", {"repo": "shop"}),
                ToolUseSpec("read_file", {"repo": "shop", "path": "shop/models.py"}),
                ToolUseSpec("search_code", {"repo": "shop", "pattern": "Order"}),
            ]
        )
    )
    fake.reply_tool_use(
        "ask_clarifying_questions", {"questions": [{"question": "Partial refunds?"}]}
    )
    desk.work()

    assert len(fake.message_requests) == 2
    wrap_up = fake.message_requests[-1].body
    results = [b for b in wrap_up["messages"][-1]["content"] if b["type"] == "tool_result"]
    assert [bool(r.get("is_error")) for r in results] == [False, False, True]
    assert "budget" in str(results[2]["content"])
    assert wrap_up["tool_choice"] == {"type": "any"}
    assert [t["name"] for t in wrap_up["tools"]] == [
        "ask_clarifying_questions",
        "deliver_result",
    ]
    questions = desk.messages(1)[-1]
    assert questions.kind is MessageKind.QUESTIONS and questions.payload is not None
    assert [step["tool"] for step in questions.payload["steps"]] == ["list_files", "read_file"]
