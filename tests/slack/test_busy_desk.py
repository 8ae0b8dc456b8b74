"""A busy desk: people see their place in the queue, and everyone is answered in turn."""

import pytest

from tests.slack.conftest import ALICE, BOB, CHANNEL, SlackHarness
from tests.support import QUESTIONS


@pytest.mark.app_settings(turn_concurrency=1)
def test_a_person_waiting_behind_a_running_turn_is_told_their_place(
    harness: SlackHarness,
) -> None:
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS, delay_seconds=1.0)
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    first = harness.mention("Add SSO for admins", user=ALICE)
    harness.anthropic.wait_for_requests(1, path="/v1/messages")  # Alice's turn is running
    second = harness.mention("Add audit logs", user=BOB)
    third = harness.mention("Add rate limits", user=ALICE)

    places = harness.slack.wait_for(
        lambda: (
            harness.slack.ephemerals(CHANNEL)
            if len(harness.slack.ephemerals(CHANNEL)) >= 2
            else None
        ),
        message="two places in the queue",
    )
    assert [(e["user"], e.get("thread_ts")) for e in places] == [(BOB, second), (ALICE, third)]
    assert "yours is next" in places[0]["text"]
    assert "1 request ahead of yours" in places[1]["text"]
    for thread in (first, second, third):
        harness.wait_for_text(CHANNEL, thread, "Which identity providers?")
    harness.wait_idle()


def test_an_idle_desk_does_not_talk_about_queues(harness: SlackHarness) -> None:
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    thread = harness.mention("Add SSO for admins")
    harness.wait_for_text(CHANNEL, thread, "Which identity providers?")
    harness.wait_idle()
    assert harness.slack.ephemerals(CHANNEL) == []
