"""Only Slack may talk to the app, and the app never answers itself or other bots."""

import json
import time
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from bot.store.models import ConversationStatus
from tests.slack.conftest import (
    BOT_ID,
    BOT_USER,
    CHANNEL,
    OTHER_BOT_ID,
    OTHER_BOT_USER,
    TEAM,
    SlackHarness,
)
from tests.support import QUESTIONS


def _assert_nothing_happened(harness: SlackHarness) -> None:
    harness.wait_idle()
    assert harness.conversations() == []
    assert harness.stored_messages() == []
    assert harness.anthropic.message_requests == []
    assert {method for method, _ in harness.slack.calls} == {"auth.test"}
    assert [m for m in harness.slack.messages(CHANNEL) if m["bot_id"] == BOT_ID] == []


def test_forged_and_stale_requests_get_401_and_store_nothing(harness: SlackHarness) -> None:
    ts = harness.slack.add_user_message(CHANNEL, f"<@{BOT_USER}> Add SSO", "U1")
    body = json.dumps(harness.envelope(harness.slack.message_event(CHANNEL, ts)))
    now = int(time.time())
    forger = SignatureVerifier("not-the-secret")
    real = harness.verifier
    cases = {
        "wrong secret": {"signature": forger.generate_signature(timestamp=str(now), body=body)},
        "signed for another body": {
            "signature": real.generate_signature(timestamp=str(now), body=body + " ")
        },
        "signed for another time": {
            "signature": real.generate_signature(timestamp=str(now - 1), body=body)
        },
        "stale (6 minutes old)": {"timestamp": now - 360},
        "from the future": {"timestamp": now + 360},
        "no v0= prefix": {
            "signature": str(real.generate_signature(timestamp=str(now), body=body)).removeprefix(
                "v0="
            )
        },
        "unsigned": {"signed": False},
    }
    for case, options in cases.items():
        response = harness.post(body, content_type="application/json", **options)  # type: ignore[arg-type]
        assert response.status == 401, case
        assert response.json() == {"error": "invalid request"}, case

    # A forged slash command and a forged button click fare no better.
    command = urlencode(
        {
            "command": "/feature",
            "text": "add a payload field",
            "user_id": "U1",
            "channel_id": CHANNEL,
            "team_id": TEAM,
            "trigger_id": "t.1",
            "response_url": harness.slack.response_url("forged"),
        }
    )
    stale = harness.post(
        command, content_type="application/x-www-form-urlencoded", timestamp=now - 3600
    )
    assert stale.status == 401
    forged = harness.post(
        command,
        content_type="application/x-www-form-urlencoded",
        signature=forger.generate_signature(timestamp=str(now), body=command),
    )
    assert forged.status == 401
    assert harness.slack.responses("forged") == []
    _assert_nothing_happened(harness)

    # The real signature over the same request works: the failures above were the signature.
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    assert harness.post(body, content_type="application/json").status == 200
    harness.wait_for_bot(CHANNEL, ts)


def test_a_forged_click_cancels_nothing(harness: SlackHarness) -> None:
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    thread = harness.mention("Add OAuth login")
    (questions,) = harness.wait_for_bot(CHANNEL, thread)
    harness.wait_idle()
    cancel = next(
        e
        for b in questions["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["text"]["text"] == "Cancel"
    )
    payload = {
        "type": "block_actions",
        "user": {"id": "U1", "username": "u1", "team_id": TEAM},
        "team": {"id": TEAM, "domain": "test-workspace"},
        "channel": {"id": CHANNEL},
        "container": {"type": "message", "message_ts": questions["ts"], "channel_id": CHANNEL},
        "message": {"ts": questions["ts"], "text": questions["text"], "blocks": []},
        "actions": [{**cancel, "block_id": "agentdesk_questions", "action_ts": "1.0"}],
        "trigger_id": "t.2",
        "response_url": harness.slack.response_url("forged-click"),
    }
    body = urlencode({"payload": json.dumps(payload)})
    forged = SignatureVerifier("guess").generate_signature(
        timestamp=str(int(time.time())), body=body
    )
    response = harness.post(
        body, content_type="application/x-www-form-urlencoded", signature=forged
    )
    assert response.status == 401
    harness.wait_idle()
    assert harness.conversation_of(CHANNEL, thread).status is ConversationStatus.AWAITING_USER
    assert len(harness.bot_messages(CHANNEL, thread)) == 1
    assert harness.slack.calls_to("chat.update") == []


def test_other_bots_are_ignored(harness: SlackHarness) -> None:
    ts = "1700000100.000100"
    bot_mention = {
        "type": "message",
        "user": OTHER_BOT_USER,
        "bot_id": OTHER_BOT_ID,
        "bot_profile": {"id": OTHER_BOT_ID, "name": "deploy-bot", "app_id": "A0THER"},
        "text": f"<@{BOT_USER}> deploy failed, please add retries",
        "ts": ts,
        "event_ts": ts,
        "channel": CHANNEL,
        "channel_type": "channel",
        "team": TEAM,
    }
    harness.event(bot_mention)
    harness.event({**bot_mention, "type": "app_mention"})
    legacy = {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": OTHER_BOT_ID,
        "username": "legacy-hook",
        "text": f"<@{BOT_USER}> nightly build is red",
        "ts": "1700000100.000200",
        "channel": CHANNEL,
        "channel_type": "channel",
        "event_ts": "1700000100.000200",
    }
    harness.event(legacy)
    _assert_nothing_happened(harness)

    # Where a channel allows bots, the same mention is a request: the ignoring above is
    # deliberate, not a broken route.
    harness.desk.configure_channel(team_id=TEAM, channel_id=CHANNEL, allow_bots=True)
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    harness.event({**bot_mention, "ts": "1700000100.000300", "event_ts": "1700000100.000300"})
    harness.wait_for_bot(CHANNEL, "1700000100.000300")
    harness.wait_idle()

    # A legacy integration's post (subtype bot_message, no user) counts there too.
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    harness.event({**legacy, "ts": "1700000100.000400", "event_ts": "1700000100.000400"})
    harness.wait_for_bot(CHANNEL, "1700000100.000400")
    harness.wait_idle()
    legacy_request = harness.conversation_of(CHANNEL, "1700000100.000400")
    assert legacy_request.requester_id == OTHER_BOT_ID
    assert "nightly build is red" in harness.model_texts()
    assert "legacy-hook" in harness.model_texts()


def test_the_bot_never_answers_itself(harness: SlackHarness) -> None:
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    thread = harness.mention("Add OAuth login")
    (reply,) = harness.wait_for_bot(CHANNEL, thread)
    harness.wait_idle()

    # Slack echoes the bot's own reply back as a `message` event in the thread it owns...
    echo = harness.slack.message_event(CHANNEL, reply["ts"])
    assert echo["user"] == BOT_USER and echo["bot_id"] == BOT_ID
    harness.event(echo)
    # ...also when the bot's text happens to mention itself, and as an edit of its message.
    harness.event({**echo, "text": f"<@{BOT_USER}> {echo['text']}"})
    harness.event({**echo, "type": "app_mention", "text": f"<@{BOT_USER}> hi"})
    harness.event(
        {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "channel": CHANNEL,
            "channel_type": "channel",
            "ts": "1700000200.000100",
            "event_ts": "1700000200.000100",
            "message": {**echo, "text": "edited by the bot"},
            "previous_message": echo,
        }
    )
    harness.wait_idle()
    assert len(harness.bot_messages(CHANNEL, thread)) == 1
    assert len(harness.agent_requests()) == 1
    assert len(harness.stored_messages()) == 2  # the request and the one reply
