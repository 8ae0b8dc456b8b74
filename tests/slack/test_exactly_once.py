"""Slack delivers at least once: retries and double deliveries must still give one reply."""

import threading
from typing import Any

import pytest

from bot.store.models import MessageRole
from tests.slack.conftest import BOT_USER, CHANNEL, DM, SlackHarness
from tests.support import QUESTIONS


def _user_messages(harness: SlackHarness) -> list[str]:
    return [m.text for m in harness.stored_messages() if m.role is MessageRole.USER]


def _all_at_once(harness: SlackHarness, deliveries: list[dict[str, Any]]) -> list[int]:
    """Send the deliveries from parallel threads released together; their HTTP statuses."""
    statuses: list[int] = []
    barrier = threading.Barrier(len(deliveries))

    def send(delivery: dict[str, Any]) -> None:
        barrier.wait()
        statuses.append(harness.send_envelope(**delivery).status)

    senders = [threading.Thread(target=send, args=(d,)) for d in deliveries]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    return statuses


@pytest.mark.parametrize("reason", ["http_timeout", "http_error", "connection_failed"])
def test_retries_of_both_events_of_a_mention_give_one_reply(
    harness: SlackHarness, reason: str
) -> None:
    # The model is slow, so Slack's retries arrive while the first delivery is being worked.
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS, delay_seconds=0.5)
    ts = harness.slack.add_user_message(CHANNEL, f"<@{BOT_USER}> Add SSO for admins", "U1")
    message, mention = harness.events_for(CHANNEL, ts)
    assert (message["type"], mention["type"]) == ("message", "app_mention")

    harness.event(message, event_id="EvMSG")
    harness.event(mention, event_id="EvMENTION")
    for attempt in (1, 2, 3):
        harness.event(message, event_id="EvMSG", retry_num=attempt, reason=reason)
        harness.event(mention, event_id="EvMENTION", retry_num=attempt, reason=reason)

    harness.wait_for_bot(CHANNEL, ts)
    # A late retry, after the reply is out, changes nothing either.
    harness.event(mention, event_id="EvMENTION", retry_num=3, reason=reason)
    harness.wait_idle()
    assert len(harness.bot_messages(CHANNEL, ts)) == 1
    assert len(harness.agent_requests()) == 1
    assert _user_messages(harness) == ["Add SSO for admins"]
    assert len(harness.conversations()) == 1


def test_simultaneous_double_deliveries_give_one_reply_each(harness: SlackHarness) -> None:
    harness.anthropic.default = lambda body: "Noted. Which team owns this?"
    threads = []
    for n in range(4):
        ts = harness.slack.add_user_message(CHANNEL, f"<@{BOT_USER}> request number {n}", "U1")
        threads.append(ts)
        # Both events and a retry of each hit the server at the same moment.
        events = harness.events_for(CHANNEL, ts)
        deliveries: list[dict[str, Any]] = []
        for index, event in enumerate(events):
            envelope = harness.envelope(event, event_id=f"Ev{n}x{index}")
            deliveries += [{"envelope": envelope}, {"envelope": envelope, "retry_num": 1}]
        assert _all_at_once(harness, deliveries) == [200] * len(deliveries)

    for ts in threads:
        harness.wait_for_bot(CHANNEL, ts)
    harness.wait_idle()
    for ts in threads:
        assert len(harness.bot_messages(CHANNEL, ts)) == 1, harness.slack.dump()
    assert sorted(_user_messages(harness)) == [f"request number {n}" for n in range(4)]
    assert len(harness.agent_requests()) == 4


def test_a_dm_retry_gives_one_reply(harness: SlackHarness) -> None:
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    ts = harness.slack.add_user_message(DM, "backend-feature-developer: add rate limits", "U1")
    (event,) = harness.events_for(DM, ts)
    harness.event(event, event_id="EvDM")
    harness.event(event, event_id="EvDM", retry_num=1)
    harness.wait_for_bot(DM, ts)
    harness.event(event, event_id="EvDM", retry_num=2)
    harness.wait_idle()
    assert len(harness.bot_messages(DM, ts)) == 1
    assert len(harness.agent_requests()) == 1


def test_a_thread_answer_retried_gives_one_turn(harness: SlackHarness) -> None:
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    thread = harness.mention("Add OAuth login")
    harness.wait_for_bot(CHANNEL, thread)
    harness.wait_idle()

    harness.anthropic.reply_text("Thanks, one more: which tenants first?")
    ts = harness.slack.add_user_message(CHANNEL, "Both providers", "U1", thread)
    (event,) = harness.events_for(CHANNEL, ts)
    for attempt in (None, 1, 2, 3):
        harness.event(event, event_id="EvANSWER", retry_num=attempt)
    harness.wait_for_bot(CHANNEL, thread, 2)
    harness.wait_idle()
    assert len(harness.bot_messages(CHANNEL, thread)) == 2
    assert len(harness.agent_requests()) == 2
    assert _user_messages(harness) == ["Add OAuth login", "Both providers"]
