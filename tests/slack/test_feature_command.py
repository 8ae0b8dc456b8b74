"""`/feature`: subcommands answered at once, requests posted and worked in a thread."""

import time
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.slack.admins import may_configure_channel
from bot.slack.listeners.commands.feature import REFUSED
from bot.store.models import Conversation, ConversationStatus
from tests.fakes.slack_server import visible_text
from tests.slack.conftest import BACKEND, BOT_ID, CHANNEL, FRONTEND, SlackHarness
from tests.support import PLAN, QUESTIONS


def _request_posts(harness: SlackHarness) -> list[dict[str, Any]]:
    """The top-level "Feature request from …" posts the command made."""
    return [
        m
        for m in harness.slack.messages(CHANNEL)
        if m["bot_id"] == BOT_ID and m["thread_ts"] in (None, m["ts"])
    ]


def _file_request(harness: SlackHarness, text: str) -> str:
    """`/feature text`, answered with questions; returns the request thread's ts."""
    before = len(_request_posts(harness))
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    response = harness.command(text)
    assert (response.status, response.body) == (200, "")
    posts = harness.slack.wait_for(
        lambda: _request_posts(harness) if len(_request_posts(harness)) > before else None,
        message="request post",
    )
    thread = str(posts[-1]["ts"])
    harness.wait_for_bot(CHANNEL, thread)
    harness.wait_idle()
    return thread


def test_help_and_agents_are_answered_privately(harness: SlackHarness) -> None:
    for text in ("", "help", "--help"):
        response = harness.command(text)
        assert response.status == 200
        assert "`/feature describe what you need`" in response.body
        assert "`/feature --agent NAME describe what you need`" in response.body
    agents = harness.command("agents")
    assert agents.status == 200
    assert f"• *{BACKEND}*:" in agents.body
    assert f"• *{FRONTEND}*:" in agents.body
    harness.wait_idle()
    assert harness.slack.messages(CHANNEL) == []
    assert harness.conversations() == []


def test_a_request_containing_the_word_payload_is_filed(harness: SlackHarness) -> None:
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    response = harness.command("add a payload field to the webhook events")
    assert response.status == 200  # Bolt alone answers 404 "unhandled request" here
    assert response.body == ""

    (post,) = harness.slack.wait_for(lambda: _request_posts(harness), message="request post")
    assert "**Feature request from alice**" in visible_text(post)
    assert "add a payload field to the webhook events" in visible_text(post)
    reply = harness.wait_for_text(CHANNEL, str(post["ts"]), "Which identity providers?")
    assert reply["thread_ts"] == post["ts"]
    assert "add a payload field to the webhook events" in harness.model_texts()
    assert any(s["thread_ts"] == post["ts"] for s in harness.slack.statuses)  # sign of life

    # The thread under the post is a normal conversation: answers need no mention.
    harness.wait_idle()
    harness.anthropic.reply_tool_use("deliver_result", PLAN)
    harness.say("GitHub, and yes", thread_ts=str(post["ts"]))
    harness.wait_for_text(CHANNEL, str(post["ts"]), "# OAuth login")
    harness.wait_idle()
    assert len(harness.bot_messages(CHANNEL, str(post["ts"]))) == 2
    conversation = harness.conversation_of(CHANNEL, str(post["ts"]))
    assert conversation.source == "command"
    assert conversation.status is ConversationStatus.DELIVERED


def test_agent_flag_picks_the_agent(harness: SlackHarness) -> None:
    unknown = harness.command("--agent nobody add a dark mode toggle")
    assert unknown.status == 200
    assert "There is no agent named `nobody`" in unknown.body
    empty = harness.command(f"--agent {FRONTEND}")
    assert f"Tell me what you need after `--agent {FRONTEND}`" in empty.body
    harness.wait_idle()
    assert harness.slack.messages(CHANNEL) == []

    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    ok = harness.command(f"--agent {FRONTEND} add a dark mode toggle to settings")
    assert (ok.status, ok.body) == (200, "")
    (post,) = harness.slack.wait_for(lambda: _request_posts(harness), message="request post")
    assert "--agent" not in visible_text(post)
    harness.wait_for_bot(CHANNEL, str(post["ts"]))
    # The channel's default is the backend agent; the flag wins.
    assert harness.conversation_of(CHANNEL, str(post["ts"])).agent == FRONTEND
    assert "You build user interfaces." in harness.agent_requests()[-1]["system"][0]["text"]
    assert "add a dark mode toggle to settings" in harness.model_texts()


def test_status_and_cancel(harness: SlackHarness) -> None:
    assert harness.command("status").body == "You have no open requests."
    assert harness.command("cancel").body == "You have no open request to cancel."

    threads = [_file_request(harness, "add audit logs"), _file_request(harness, "add CSV export")]
    first = harness.conversation_of(CHANNEL, threads[0])
    second = harness.conversation_of(CHANNEL, threads[1])

    status = harness.command("status").body
    assert "*Your open requests:*" in status
    assert f"{first.id}. add audit logs — awaiting user" in status
    assert f"{second.id}. add CSV export — awaiting user" in status

    # `cancel` cancels the latest open request, and only that one.
    assert harness.command("cancel").body == f"Cancelled request {second.id}: add CSV export"
    harness.wait_for_text(CHANNEL, threads[1], "Cancelled by alice. Reply here to start again.")
    harness.wait_idle()
    assert harness.conversation_of(CHANNEL, threads[1]).status is ConversationStatus.CANCELLED
    assert harness.conversation_of(CHANNEL, threads[0]).status is ConversationStatus.AWAITING_USER
    assert harness.bot_texts(CHANNEL, threads[0])[-1].startswith("A few questions")
    status = harness.command("status").body
    assert "add audit logs" in status and "add CSV export" not in status

    assert harness.command("cancel 999").body == "No open request 999 of yours."
    assert harness.command(f"cancel {first.id}").body == (
        f"Cancelled request {first.id}: add audit logs"
    )
    harness.wait_for_text(CHANNEL, threads[0], "Cancelled by alice.")
    harness.wait_idle()
    assert harness.command("status").body == "You have no open requests."


def test_a_channel_the_bot_is_not_in_gets_a_private_hint(harness: SlackHarness) -> None:
    harness.slack.fail_next("chat.postMessage", error="not_in_channel")
    response = harness.command("add audit logs", response_name="hint")
    assert (response.status, response.body) == (200, "")
    (hint,) = harness.slack.wait_for(lambda: harness.slack.responses("hint"), message="hint")
    assert "invite me with `/invite @agentdesk`" in hint["text"]
    assert hint.get("response_type", "ephemeral") == "ephemeral"
    harness.wait_idle()
    assert harness.conversations() == []
    assert harness.slack.messages(CHANNEL) == []


def test_cancel_cancels_one_request_even_when_the_database_is_slow(
    harness: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = [_file_request(harness, "add audit logs"), _file_request(harness, "add CSV export")]

    # Bolt runs the ack and the lazy listener side by side; make every read but the first
    # slow, as on a loaded database, so whichever runs second sees the first one's cancel.
    real_open_requests = harness.desk.open_requests
    reads = 0

    def slow_after_the_first(**kwargs: str) -> list[Conversation]:
        nonlocal reads
        reads += 1
        if reads > 1:
            time.sleep(0.3)
        return real_open_requests(**kwargs)

    monkeypatch.setattr(harness.desk, "open_requests", slow_after_the_first)
    answer = harness.command("cancel").body
    assert answer.startswith("Cancelled request")
    harness.wait_idle()
    statuses = sorted(c.status.value for c in harness.conversations())
    assert statuses == ["awaiting_user", "cancelled"]
    cancelled = [
        t for t in threads if "Cancelled by alice." in " ".join(harness.bot_texts(CHANNEL, t))
    ]
    assert len(cancelled) == 1


def test_a_request_does_not_let_the_bot_ping_the_channel(harness: SlackHarness) -> None:
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    harness.command("<!here> <!channel|channel> add SSO, ask <@U2> about it")
    (post,) = harness.slack.wait_for(lambda: _request_posts(harness), message="request post")
    for shown in (post["text"], visible_text(post)):
        assert "<!here>" not in shown
        assert "<!channel" not in shown
        assert "add SSO" in shown
    assert "<@U2>" not in visible_text(post)
    harness.wait_for_bot(CHANNEL, str(post["ts"]))


def test_channel_settings_turn_intake_on_and_bind_an_agent(harness: SlackHarness) -> None:
    channel = "C0NEWS"
    harness.slack.add_channel(channel, name="news", creator="U1")  # Alice created it
    shown = harness.command("channel", channel=channel)
    assert shown.body == "This channel: agent *none (routed)*, intake off, requests from bots off."
    assert harness.command("channel intake on", channel=channel).body == (
        "Intake is on: every new post in this channel is a request."
    )
    bound = harness.command("channel agent frontend", channel=channel)
    assert bound.body == (
        f"Requests in this channel now go to *{FRONTEND}* unless they name another agent."
    )
    assert (
        "no agent named `nobody`" in harness.command("channel agent nobody", channel=channel).body
    )
    harness.wait_idle()
    setting = harness.desk.channel_setting(team_id="T0001", channel_id=channel)
    assert setting is not None and setting.intake and setting.default_agent == FRONTEND

    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    post = harness.say("The pricing page needs a yearly toggle", channel=channel)
    harness.wait_for_bot(channel, post)
    harness.wait_idle()
    assert "You build user interfaces." in harness.agent_requests()[-1]["system"][0]["text"]


def test_a_request_that_starts_with_the_word_channel_is_still_a_request(
    harness: SlackHarness,
) -> None:
    thread = _file_request(harness, "channel notifications for new signups")
    assert harness.conversation_of(CHANNEL, thread).title == "channel notifications for new signups"


def test_only_admins_and_the_channels_creator_change_its_settings(harness: SlackHarness) -> None:
    channel = "C0NEWS"
    harness.slack.add_channel(channel, name="news", creator="U1")
    refused = harness.command("channel intake on", channel=channel, user="U2")
    assert refused.status == 200
    assert refused.body == REFUSED
    assert harness.command("channel agent frontend", channel=channel, user="U2").body == REFUSED
    harness.wait_idle()
    assert harness.desk.channel_setting(team_id="T0001", channel_id=channel) is None
    # Anyone may look; nothing was filed as a request either.
    assert "intake off" in harness.command("channel", channel=channel, user="U2").body
    harness.wait_idle()
    assert harness.conversations() == []

    harness.slack.add_user("U2", real_name="Bob Baker", display_name="bob", is_admin=True)
    assert harness.command("channel intake on", channel=channel, user="U2").body.startswith(
        "Intake is on"
    )
    harness.wait_idle()
    setting = harness.desk.channel_setting(team_id="T0001", channel_id=channel)
    assert setting is not None and setting.intake


def test_admin_user_ids_may_change_any_channel(harness: SlackHarness) -> None:
    settings = harness.desk.settings.model_copy(update={"admin_user_ids": "U7, U2"})
    client = WebClient(token="xoxb-test", base_url=harness.slack.api_url)
    assert may_configure_channel(client=client, settings=settings, user_id="U2", channel_id="C9")
    assert not may_configure_channel(
        client=client, settings=harness.desk.settings, user_id="U2", channel_id="C9"
    )
