"""Turns stream into their thread while they run; the stored reply takes the streamed
message's place, so the thread shows each reply once, whatever Slack refused."""

from typing import Any

import pytest
from slack_sdk import WebClient

from bot.agents.model import AgentDefinition
from bot.engine.turn import ToolOutput
from bot.engine.views import ThreadRef
from bot.slack.live_turn import STREAM_SECONDS, StreamedTurn
from tests.fakes.slack_server import FakeSlack, visible_text
from tests.slack.conftest import ALICE, CHANNEL, TEAM, SlackHarness
from tests.support import PLAN

LEAD = "I read the login code first, so the plan fits what is there. " * 6  # > one buffer


class _ShopToolbox:
    """One readable file, as the repository tools would serve it."""

    def definitions(self, agent: AgentDefinition) -> list[dict[str, Any]]:
        return [
            {
                "name": "read_file",
                "description": "Read a file of the shop repository.",
                "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
            }
        ]

    def run(self, agent: AgentDefinition, name: str, arguments: dict[str, Any]) -> ToolOutput:
        return ToolOutput(text="def login(): ...", sources=(f"shop/{arguments['path']}",))

    def describe(self, name: str, arguments: dict[str, Any]) -> str:
        return f"reading shop/{arguments.get('path')}"


def _plan_turn(harness: SlackHarness) -> str:
    harness.desk.toolbox = _ShopToolbox()
    harness.anthropic.reply_tool_use("read_file", {"path": "auth.py"}, text_before="Looking.")
    harness.anthropic.reply_tool_use("deliver_result", PLAN, text_before=LEAD)
    return harness.mention("Add Google sign-in")


def test_a_plan_streams_with_progress_steps_and_ends_as_one_reply(harness: SlackHarness) -> None:
    thread = _plan_turn(harness)
    streaming = harness.wait_for_text(CHANNEL, thread, "OAuth login")  # as it streams
    harness.wait_idle()
    reply = harness.slack.message(CHANNEL, streaming["ts"])  # as the reply made it
    assert reply is not None

    [started] = harness.slack.calls_to("chat.startStream")
    assert started["recipient_team_id"] == TEAM
    assert started["recipient_user_id"] == ALICE
    assert started["task_display_mode"] == "plan"
    chunks = [
        c
        for call in ("chat.startStream", "chat.appendStream")
        for params in harness.slack.calls_to(call)
        for c in params.get("chunks", [])
    ]
    steps = [(c["title"], c["status"]) for c in chunks if c["type"] == "task_update"]
    assert steps == [("reading shop/auth.py", "in_progress"), ("reading shop/auth.py", "complete")]
    streamed = "".join(c.get("text", "") for c in chunks if c["type"] == "markdown_text")
    assert LEAD.strip()[:200] in streamed

    # The streamed message became the reply: one bot message in the thread, with our metadata.
    [only] = harness.bot_messages(CHANNEL, thread)
    assert only["ts"] == reply["ts"]
    assert reply["metadata"]["event_type"] == "agentdesk_reply"
    assert "Add Google and GitHub sign-in" in visible_text(reply)
    assert harness.reply_posts() == []


def test_a_refused_stream_falls_back_to_posting_once(harness: SlackHarness) -> None:
    harness.slack.fail_next("chat.startStream", error="not_allowed_token_type", times=5)
    thread = _plan_turn(harness)
    harness.wait_for_text(CHANNEL, thread, "OAuth login")
    harness.wait_idle()
    [reply] = harness.bot_messages(CHANNEL, thread)
    assert reply["metadata"]["event_payload"]["part"] == 0
    assert len(harness.reply_posts()) == 1


def test_a_stream_that_expired_is_finished_with_chat_update(harness: SlackHarness) -> None:
    harness.slack.stream_expiry_seconds = 0.0  # every append after the start comes too late
    thread = _plan_turn(harness)
    reply = harness.wait_for_text(CHANNEL, thread, "OAuth login")
    harness.wait_idle()
    [only] = harness.bot_messages(CHANNEL, thread)
    assert only["ts"] == reply["ts"]
    assert len(harness.slack.calls_to("chat.startStream")) == 1
    assert harness.reply_posts() == []
    assert [c["ts"] for c in harness.slack.calls_to("chat.update")] == [only["ts"]]


def test_a_long_turn_stops_its_stream_before_slack_expires_it() -> None:
    now = [0.0]
    remembered: list[str] = []
    with FakeSlack() as fake:
        client = WebClient(token="xoxb-test", base_url=fake.api_url)
        parent = fake.add_user_message(CHANNEL, "go", user=ALICE)
        thread = ThreadRef(
            id=1, team_id=TEAM, channel_id=CHANNEL, thread_ts=parent, requester_id=ALICE
        )
        preview = StreamedTurn(
            client,
            thread=thread,
            remember=remembered.append,
            clock=lambda: now[0],
        )
        preview.step(key="t1", title="reading a.py", done=False)
        assert remembered == [preview.ts]
        now[0] += STREAM_SECONDS + 1
        preview.step(key="t1", title="reading a.py", done=True)  # too late: stop instead
        preview.write("more words " * 40)
        [_, streamed] = fake.thread(CHANNEL, parent)
        assert streamed["stream_state"] == "completed"
        assert len(fake.calls_to("chat.appendStream")) == 0
        assert len(fake.calls_to("chat.stopStream")) == 1


def test_a_post_interrupted_after_the_stream_became_the_reply_is_not_repeated(
    harness: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = harness.app.services.client_for(TEAM)
    update = client.chat_update
    lost = iter([True])

    def answer_lost(**kwargs: Any) -> Any:
        response = update(**kwargs)  # Slack applied it...
        if next(lost, False):
            raise ConnectionError("...but the answer never came back")
        return response

    monkeypatch.setattr(client, "chat_update", answer_lost)
    thread = _plan_turn(harness)
    harness.wait_for_text(CHANNEL, thread, "OAuth login")
    harness.wait_idle(timeout=15)
    assert next(lost, None) is None  # the answer was lost once
    [only] = harness.bot_messages(CHANNEL, thread)
    assert only["metadata"]["event_type"] == "agentdesk_reply"
    assert harness.reply_posts() == []
    assert len(harness.slack.calls_to("chat.update")) == 1  # the retry found it done


def test_a_turn_stopped_midway_leaves_a_note_where_it_was_streaming(
    harness: SlackHarness,
) -> None:
    harness.desk.toolbox = _ShopToolbox()
    harness.anthropic.reply_tool_use("read_file", {"path": "auth.py"}, text_before="Looking.")
    harness.anthropic.reply_tool_use("deliver_result", PLAN, text_before=LEAD, delay_seconds=2.0)
    thread = harness.mention("Add Google sign-in")
    harness.slack.wait_for_calls("chat.startStream")
    harness.event(
        {
            "type": "agent_session_stopped",
            "channel": CHANNEL,
            "thread_ts": thread,
            "user": ALICE,
            "streaming_message_ts": [],
            "event_ts": "1700000999.000100",
        }
    )
    harness.wait_for_text(CHANNEL, thread, "Cancelled by alice.")
    harness.wait_for_text(CHANNEL, thread, "Stopped before finishing.", timeout=15)
    harness.wait_idle(timeout=15)
    texts = harness.bot_texts(CHANNEL, thread)
    assert len(texts) == 2 and not any("OAuth login" in text for text in texts)
    # The note took the streamed message's place: no second message for it.
    [streamed] = [m for m in harness.bot_messages(CHANNEL, thread) if m.get("stream_state")]
    assert visible_text(streamed) == "Stopped before finishing."
    assert harness.slack.calls_to("chat.update")[-1]["ts"] == streamed["ts"]


def test_a_plan_written_through_the_tool_streams_and_ends_as_one_reply_with_buttons(
    harness: SlackHarness,
) -> None:
    document = "## Design\n\n" + "Each step of the sign-in flow, written out in full. " * 60
    plan = {**PLAN, "document": document}
    harness.anthropic.reply_tool_use("deliver_result", plan)  # no words before: only the tool
    thread = harness.mention("Add Google sign-in")
    streaming = harness.wait_for_text(CHANNEL, thread, "OAuth login")  # as it streams
    harness.wait_idle()
    reply = harness.slack.message(CHANNEL, streaming["ts"])  # as the reply made it
    assert reply is not None

    [started] = harness.slack.calls_to("chat.startStream")
    assert started["recipient_team_id"] == TEAM and started["recipient_user_id"] == ALICE
    streamed = "".join(
        chunk.get("text", "")
        for call in ("chat.startStream", "chat.appendStream")
        for params in harness.slack.calls_to(call)
        for chunk in params.get("chunks", [])
        if chunk["type"] == "markdown_text"
    )
    assert streamed.startswith("# OAuth login\n\nAdd Google and GitHub sign-in")
    assert "Each step of the sign-in flow" in streamed and len(streamed) > 2000
    assert harness.slack.calls_to("chat.stopStream")
    assert len(harness.slack.calls_to("chat.appendStream")) > 3  # it grew as it was written
    # one message carries the plan: the streamed one became the deliverable, buttons and all
    # (the long plan also comes as a file, its own message)
    [only] = [m for m in harness.bot_messages(CHANNEL, thread) if not m.get("files")]
    assert only["ts"] == reply["ts"]
    assert harness.reply_posts() == []
    labels = [
        element["text"]["text"]
        for block in only.get("blocks") or []
        for element in block.get("elements") or []
        if element.get("type") == "button"
    ]
    assert labels, only
