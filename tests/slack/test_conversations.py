"""Requests from every way in - mention, DM, an existing thread, an intake channel - to a plan."""

import pytest
from sqlalchemy.exc import OperationalError

from bot.engine.desk import Intake
from bot.engine.inbound import InboundMessage
from bot.store.models import ConversationStatus, MessageKind, MessageRole
from tests.fakes.slack_server import visible_text
from tests.slack.conftest import (
    ALICE,
    BACKEND,
    BOB,
    BOT_USER,
    CHANNEL,
    DM,
    OPEN_CHANNEL,
    TEAM,
    SlackHarness,
)
from tests.support import PLAN, QUESTIONS


def test_mention_questions_answer_without_mention_then_deliverable(harness: SlackHarness) -> None:
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    thread = harness.mention("I need OAuth login for our users 🚀 (Zoë's idea)")

    (questions,) = harness.wait_for_bot(CHANNEL, thread)
    shown = visible_text(questions)
    assert "A few questions before I design this:" in shown
    assert "1. Which identity providers? (Google / GitHub / Both)" in shown
    assert "2. Do existing password accounts need linking?" in shown
    assert questions["blocks"][0]["type"] == "markdown"
    buttons = [
        e["text"]["text"]
        for b in questions["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert buttons == ["Google", "GitHub", "Both", "Cancel"]
    first = harness.agent_requests()[0]
    assert (
        "I need OAuth login for our users 🚀 (Zoë's idea)"
        in harness.agent_requests()[0]["messages"][0]["content"][0]["text"]
    )
    assert f"<@{BOT_USER}>" not in harness.model_texts(0)  # the mention is not the request
    assert "You are an expert backend developer" in first["system"][0]["text"]

    # The answer is a plain thread reply: no mention needed.
    harness.wait_idle()
    harness.anthropic.reply_tool_use("deliver_result", PLAN, text_before="Here is the plan.")
    harness.say("Both, and link accounts by verified email", thread_ts=thread)

    plan = harness.wait_for_text(CHANNEL, thread, "# OAuth login")
    assert "Add Google and GitHub sign-in beside passwords" in visible_text(plan)
    assert "1. Add the callback route." in visible_text(plan)
    assert "Helpful" in visible_text(plan)
    harness.wait_idle()
    assert len(harness.bot_messages(CHANNEL, thread)) == 2
    assert "[alice (requester)] Both, and link accounts by verified email" in harness.model_texts()
    conversation = harness.conversation_of(CHANNEL, thread)
    assert conversation.status is ConversationStatus.DELIVERED
    assert conversation.agent == BACKEND
    # Each mention came as `message` and `app_mention`: still one stored message each.
    assert [m.text for m in harness.stored_messages() if m.role is MessageRole.USER] == [
        "I need OAuth login for our users 🚀 (Zoë's idea)",
        "Both, and link accounts by verified email",
    ]
    # Nothing was posted outside the thread.
    assert [m["ts"] for m in harness.slack.messages(CHANNEL) if not m["thread_ts"]] == []


def test_dm_request_is_answered_in_a_thread_under_it(harness: SlackHarness) -> None:
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    request = harness.say(f"{BACKEND}: add an audit log of admin actions", channel=DM)

    (questions,) = harness.wait_for_bot(DM, request)
    assert questions["thread_ts"] == request
    assert "Which identity providers?" in visible_text(questions)
    assert "add an audit log of admin actions" in harness.model_texts()
    harness.wait_idle()

    harness.anthropic.reply_tool_use("deliver_result", PLAN)
    harness.say("GitHub only", channel=DM, thread_ts=request)
    harness.wait_for_text(DM, request, "# OAuth login")
    harness.wait_idle()
    assert len(harness.bot_messages(DM, request)) == 2
    assert harness.conversation_of(DM, request).source == "dm"


def test_mention_in_an_existing_thread_reads_it_and_replies_there(harness: SlackHarness) -> None:
    # People talk in a thread the bot is not part of: nothing happens.
    root = harness.say("The export page times out for big accounts", user=BOB)
    harness.say("We should make exports run in the background", thread_ts=root)
    harness.wait_idle()
    assert harness.conversations() == []
    assert harness.slack.statuses == []

    # Then someone calls the bot in: it answers in that thread, knowing what was said.
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    mention = harness.mention("can you plan this?", thread_ts=root)
    (reply,) = harness.wait_for_bot(CHANNEL, root)
    assert reply["thread_ts"] == root
    told = harness.model_texts()
    assert "The export page times out for big accounts" in told
    assert "We should make exports run in the background" in told
    assert "can you plan this?" in told
    harness.wait_idle()
    assert len(harness.bot_messages(CHANNEL, root)) == 1
    assert harness.bot_messages(CHANNEL, mention) == harness.bot_messages(CHANNEL, root)
    assert [m for m in harness.slack.messages(CHANNEL) if m["bot_id"] and not m["thread_ts"]] == []
    assert harness.conversation_of(CHANNEL, root).requester_id == ALICE


def test_a_mention_in_a_long_thread_reads_the_newest_messages_before_it(
    harness: SlackHarness,
) -> None:
    root = harness.slack.add_user_message(CHANNEL, "Exports time out for big accounts", BOB)
    for number in range(1, 121):
        harness.slack.add_user_message(CHANNEL, f"thread remark number {number}.", BOB, root)
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    harness.mention("can you plan this?", thread_ts=root)
    harness.wait_for_bot(CHANNEL, root)
    harness.wait_idle()
    told = harness.model_texts()
    assert "Exports time out for big accounts" in told  # the request the thread is about
    assert "thread remark number 120." in told  # the message right before the mention
    assert "thread remark number 100." in told
    assert "thread remark number 1." not in told  # the oldest are the ones left out
    assert told.count("thread remark number") < 50


def test_intake_channel_posts_become_requests(harness: SlackHarness) -> None:
    intake = "C0INTAKE"
    harness.desk.configure_channel(
        team_id=TEAM, channel_id=intake, intake=True, default_agent=BACKEND
    )
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    request = harness.say("Customers want to export invoices as CSV", channel=intake)
    (reply,) = harness.wait_for_bot(intake, request)
    assert "Which identity providers?" in visible_text(reply)
    assert harness.conversation_of(intake, request).source == "intake"

    # The same kind of post in an ordinary channel, without a mention, is left alone.
    harness.wait_idle()
    ordinary = harness.say("Customers want to export invoices as PDF", channel=CHANNEL)
    harness.wait_idle()
    assert harness.bot_messages(CHANNEL, ordinary) == []
    assert len(harness.conversations()) == 1
    assert len(harness.agent_requests()) == 1


def test_an_edited_request_not_yet_answered_is_read_anew(harness: SlackHarness) -> None:
    # Local scoring can't tell the agents apart and the routing model is unsure: ask. (An
    # unsure pick that is also the local top is taken, so the model leans to none here.)
    harness.anthropic.reply_tool_use(
        "choose_agent", {"reasoning": "could be either", "agent": "none", "confident": False}
    )
    thread = harness.mention("Add a toggle for notifications", channel=OPEN_CHANNEL)
    choose = harness.wait_for_text(OPEN_CHANNEL, thread, "Which agent should take this?")
    harness.wait_idle()

    harness.edit(OPEN_CHANNEL, thread, f"<@{BOT_USER}> Add a per-user email digest setting")
    harness.wait_idle()
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    harness.click(choose, BACKEND)
    harness.wait_for_text(OPEN_CHANNEL, thread, "Which identity providers?")
    told = harness.model_texts()
    assert "Add a per-user email digest setting" in told
    assert "toggle for notifications" not in told

    # Once the agent has answered, an edit no longer rewrites what it answered.
    harness.wait_idle()
    harness.edit(OPEN_CHANNEL, thread, f"<@{BOT_USER}> Something else entirely")
    harness.wait_idle()
    harness.anthropic.reply_tool_use("deliver_result", PLAN)
    harness.say("Both", channel=OPEN_CHANNEL, thread_ts=thread)
    harness.wait_for_text(OPEN_CHANNEL, thread, "# OAuth login")
    told = harness.model_texts()
    assert "Add a per-user email digest setting" in told
    assert "Something else entirely" not in told
    user_texts = [
        m.text for m in harness.stored_messages() if m.kind is MessageKind.TEXT and m.author_id
    ]
    assert "Something else entirely" not in user_texts


def test_health_check(harness: SlackHarness) -> None:
    response = harness.get("/healthz")
    assert response.status == 200
    assert response.json() == {"ok": True, "database": "ok"}


def test_slacks_ssl_check_is_answered(harness: SlackHarness) -> None:
    # Slack checks the certificate with an unsigned form post before using a slash command.
    response = harness.post(
        "ssl_check=1&token=legacy-verification-token",
        content_type="application/x-www-form-urlencoded",
        signed=False,
    )
    assert response.status == 200
    harness.wait_idle()
    assert harness.conversations() == []


def test_url_verification_is_answered_when_signed(harness: SlackHarness) -> None:
    body = '{"token":"legacy","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}'
    response = harness.post(body, content_type="application/json")
    assert response.status == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    assert harness.post(body, content_type="application/json", signed=False).status == 401


def test_a_message_whose_take_in_fails_once_is_answered_from_the_stored_event(
    harness: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.desk.inbox.retry_base_seconds = 0.05
    take_in = harness.desk.take_in
    failures = iter([True, True])

    def flaky(inbound: InboundMessage) -> Intake:
        if next(failures, False):
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return take_in(inbound)

    monkeypatch.setattr(harness.desk, "take_in", flaky)
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    thread = harness.mention("I need OAuth login for our users")
    (reply,) = harness.wait_for_bot(CHANNEL, thread)
    assert "Which identity providers" in visible_text(reply)
    harness.wait_idle()
    assert len(harness.bot_messages(CHANNEL, thread)) == 1


def test_a_message_that_can_never_be_taken_in_gets_an_apology_not_silence(
    harness: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.desk.inbox.retry_base_seconds = 0.01

    def database_down(_inbound: object) -> None:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(harness.desk, "take_in", database_down)
    thread = harness.mention("I need OAuth login for our users")
    (apology,) = harness.wait_for_bot(CHANNEL, thread)
    assert visible_text(apology) == (
        "Sorry, I couldn't take that in just now. Please send it again in a minute."
    )
    harness.say("just chatting, not for the bot", channel=OPEN_CHANNEL)
    harness.wait_idle()
    assert len(harness.bot_messages(CHANNEL, thread)) == 1
    assert harness.slack.messages(OPEN_CHANNEL)[-1]["bot_id"] is None
