"""Slack's agent surfaces over real HTTP: agent sessions and their Stop button, the Home
tab, suggested prompts in agent DMs, native feedback buttons."""

import time
from typing import Any

from bot.store.models import ConversationStatus, MessageKind
from tests.fakes.slack_server import visible_text
from tests.slack.conftest import ALICE, BACKEND, BOB, CHANNEL, DM, SlackHarness, sign_off
from tests.support import PLAN, QUESTIONS


def _stopped(channel: str, thread_ts: str, user: str = ALICE) -> dict[str, Any]:
    return {
        "type": "agent_session_stopped",
        "channel": channel,
        "thread_ts": thread_ts,
        "user": user,
        "streaming_message_ts": [],
        "event_ts": f"{time.time():.6f}",
    }


def _home_opened(user: str, tab: str, channel: str = DM) -> dict[str, Any]:
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": channel,
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }


def test_a_conversation_is_an_agent_session_with_its_request_as_title(
    harness: SlackHarness,
) -> None:
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    thread = harness.mention("Add SSO with Okta")
    harness.wait_for_text(CHANNEL, thread, "Which identity providers?")
    harness.wait_idle()
    session = harness.slack.agent_session(CHANNEL, thread)
    assert session is not None
    assert session["history"] == ["processing", "active"]
    assert "Add SSO with Okta" in session["title"]
    assert session["initiator_user_id"] == ALICE


def test_stop_ends_a_running_turn_exactly_like_cancel(harness: SlackHarness) -> None:
    harness.anthropic.reply_tool_use("deliver_result", PLAN, delay_seconds=2.0)
    thread = harness.mention("Add OAuth login")
    harness.slack.wait_for(
        lambda: (harness.slack.agent_session(CHANNEL, thread) or {}).get("status") == "processing",
        message="the session to be processing",
    )
    harness.event(_stopped(CHANNEL, thread))
    harness.wait_for_text(CHANNEL, thread, "Cancelled by alice. Reply here to start again.")
    harness.wait_idle(timeout=15)

    assert harness.conversation_of(CHANNEL, thread).status is ConversationStatus.CANCELLED
    assert not any("OAuth login" in text for text in harness.bot_texts(CHANNEL, thread))
    kinds = [m.kind for m in harness.stored_messages() if m.role.value == "assistant"]
    assert MessageKind.DELIVERABLE not in kinds  # the turn's result was dropped
    assert harness.slack.agent_session(CHANNEL, thread)["status"] == "active"  # type: ignore[index]


def test_stop_on_a_thread_agentdesk_does_not_work_in_changes_nothing(
    harness: SlackHarness,
) -> None:
    ts = harness.slack.add_user_message(CHANNEL, "just chatting", ALICE)
    harness.event(_stopped(CHANNEL, ts))
    harness.wait_idle()
    assert harness.conversations() == []
    assert harness.bot_messages(CHANNEL, ts) == []


def test_the_home_tab_shows_my_requests_and_questions_and_is_kept_fresh(
    harness: SlackHarness,
) -> None:
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    thread = harness.mention("Add SSO with Okta")
    harness.wait_for_text(CHANNEL, thread, "Which identity providers?")
    harness.wait_idle()

    harness.event(_home_opened(ALICE, "home"))
    view = harness.slack.wait_for(lambda: harness.slack.home_view(ALICE), message="a Home tab")
    shown = visible_text({"blocks": view["blocks"]})
    assert "Waiting on you: answers and sign-offs" in shown
    assert "Add SSO with Okta" in shown and "Waiting for your answer." in shown
    assert BACKEND in shown
    assert "Admin" not in shown  # Alice is no admin

    # Alice answers; the agent delivers; her Home swaps the question for the card's sign-off
    # without her reopening it, and drops that once she signs off.
    harness.anthropic.reply_tool_use("deliver_result", PLAN)
    harness.say("Google only", thread_ts=thread)
    harness.wait_for_text(CHANNEL, thread, "OAuth login")
    harness.wait_idle()
    fresh = visible_text({"blocks": harness.slack.home_view(ALICE)["blocks"]})  # type: ignore[index]
    assert "Waiting for your answer." not in fresh
    assert "Waiting for your sign-off of its requirement card." in fresh
    sign_off(harness, CHANNEL, thread)
    harness.wait_idle()
    harness.event(_home_opened(ALICE, "home"))
    harness.slack.wait_for(
        lambda: (
            "Nothing open"
            in visible_text({"blocks": (harness.slack.home_view(ALICE) or {}).get("blocks", [])})
        ),
        message="a Home with nothing waiting",
    )


def test_admins_see_channel_settings_and_the_weeks_usage(harness: SlackHarness) -> None:
    harness.slack.add_user("UADMIN", real_name="Ada Admin", is_admin=True)
    harness.anthropic.reply_tool_use("deliver_result", PLAN)
    thread = harness.mention("Add OAuth login")
    plan = harness.wait_for_text(CHANNEL, thread, "OAuth login")
    harness.wait_idle()
    harness.click(plan, "Helpful", user=BOB)
    harness.wait_idle()

    harness.event(_home_opened("UADMIN", "home"))
    view = harness.slack.wait_for(lambda: harness.slack.home_view("UADMIN"), message="a Home")
    shown = visible_text({"blocks": view["blocks"]})
    assert "1 requests, 1 delivered" in shown
    assert "rated helpful 1, not quite 0" in shown
    assert f"<#{CHANNEL}>: default agent {BACKEND}" in shown


def test_the_messages_tab_suggests_prompts_from_the_agents(harness: SlackHarness) -> None:
    harness.event(_home_opened(ALICE, "messages"))
    [call] = harness.slack.wait_for_calls("assistant.threads.setSuggestedPrompts")
    assert call["channel_id"] == DM
    assert "thread_ts" not in call
    titles = [p["title"] for p in call["prompts"]]
    assert f"Ask {BACKEND}" in titles
    assert len(titles) <= 4
    assert harness.slack.home_view(ALICE) is None


def test_deliverables_carry_native_feedback_buttons(harness: SlackHarness) -> None:
    harness.anthropic.reply_tool_use("deliver_result", PLAN)
    thread = harness.mention("Add OAuth login")
    plan = harness.wait_for_text(CHANNEL, thread, "OAuth login")
    harness.wait_idle()
    [block] = [b for b in plan["blocks"] if b["type"] == "context_actions"]
    [element] = block["elements"]
    assert element["type"] == "feedback_buttons"
    harness.click(plan, "Not quite")
    harness.wait_idle()
    [rating] = [m.payload for m in harness.stored_messages() if m.kind is MessageKind.NOTICE]
    assert rating is not None
    assert rating["feedback"] == "down"
    assert rating["message_id"] == plan["metadata"]["event_payload"]["message_id"]


def test_an_uninstall_with_a_single_token_is_acknowledged(harness: SlackHarness) -> None:
    response = harness.event({"type": "app_uninstalled", "event_ts": "1700000100.000100"})
    assert response.status == 200
    harness.wait_idle()
