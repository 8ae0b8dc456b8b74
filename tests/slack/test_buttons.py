"""Buttons and menus: choose an agent, answer a question, cancel, retry, hand over, feedback."""

from typing import Any

from bot.agents.model import AgentDefinition
from bot.engine.turn import ToolOutput
from bot.store.models import ConversationStatus, MessageKind
from tests.fakes.slack_server import visible_text
from tests.slack.conftest import (
    BACKEND,
    BOB,
    CHANNEL,
    FRONTEND,
    OPEN_CHANNEL,
    SlackHarness,
    model_down,
)
from tests.support import PLAN, QUESTIONS


def _controls(message: dict[str, Any]) -> list[str]:
    labels = []
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("type") == "button":
                labels.append(element["text"]["text"])
            elif element.get("type") == "static_select":
                labels += [f"menu:{o['text']['text']}" for o in element["options"]]
    return labels


def test_choose_agent_buttons(harness: SlackHarness) -> None:
    harness.anthropic.reply_tool_use(
        "choose_agent", {"agent": FRONTEND, "confident": False, "reason": "could be either"}
    )
    thread = harness.mention("Add a toggle for notifications", channel=OPEN_CHANNEL)
    choose = harness.wait_for_text(OPEN_CHANNEL, thread, "Which agent should take this?")
    assert _controls(choose) == [FRONTEND, BACKEND]
    harness.wait_idle()
    assert harness.conversation_of(OPEN_CHANNEL, thread).status is (
        ConversationStatus.CHOOSING_AGENT
    )

    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    harness.click(choose, BACKEND, user=BOB)
    harness.wait_for_text(OPEN_CHANNEL, thread, "Which identity providers?")
    harness.wait_idle()
    settled = harness.slack.message(OPEN_CHANNEL, choose["ts"])
    assert settled is not None
    assert f"{BACKEND}* takes this (chosen by bob)" in visible_text(settled)
    assert _controls(settled) == []  # the buttons are gone once used
    assert harness.conversation_of(OPEN_CHANNEL, thread).agent == BACKEND
    assert (
        "You are an expert backend developer" in harness.agent_requests()[-1]["system"][0]["text"]
    )
    assert len(harness.bot_messages(OPEN_CHANNEL, thread)) == 2


def test_answer_button_counts_as_the_users_answer(harness: SlackHarness) -> None:
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    thread = harness.mention("I need OAuth login")
    (questions,) = harness.wait_for_bot(CHANNEL, thread)
    harness.wait_idle()
    status_calls = len(harness.slack.statuses)

    harness.anthropic.reply_tool_use("deliver_result", PLAN)
    harness.click(questions, "GitHub")
    harness.wait_for_text(CHANNEL, thread, "# OAuth login")
    harness.wait_idle()
    assert "[alice (requester)] Answer to question 1: GitHub" in harness.model_texts()
    assert len(harness.bot_messages(CHANNEL, thread)) == 2
    assert len(harness.slack.statuses) > status_calls  # a sign of life for the click too
    assert harness.conversation_of(CHANNEL, thread).status is ConversationStatus.DELIVERED


def test_cancel_button_then_a_reply_starts_again(harness: SlackHarness) -> None:
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    thread = harness.mention("Add webhooks")
    (questions,) = harness.wait_for_bot(CHANNEL, thread)
    harness.wait_idle()

    harness.click(questions, "Cancel")
    harness.wait_for_text(CHANNEL, thread, "Cancelled by alice. Reply here to start again.")
    harness.wait_idle()
    settled = harness.slack.message(CHANNEL, questions["ts"])
    assert settled is not None
    assert "Cancelled by alice." in visible_text(settled)
    assert "Cancel" not in _controls(settled)
    assert harness.conversation_of(CHANNEL, thread).status is ConversationStatus.CANCELLED
    assert len(harness.agent_requests()) == 1

    harness.anthropic.reply_text("Back on it. Which events should fire webhooks?")
    harness.say("Actually, let's do it after all", thread_ts=thread)
    harness.wait_for_text(CHANNEL, thread, "Back on it.")
    harness.wait_idle()
    assert len(harness.bot_messages(CHANNEL, thread)) == 3


def test_model_down_shows_a_readable_failure_and_retry_works(harness: SlackHarness) -> None:
    model_down(harness.anthropic)
    thread = harness.mention("Add audit logs")
    failure = harness.wait_for_text(CHANNEL, thread, "I couldn't finish this turn.")
    shown = visible_text(failure)
    assert shown.startswith(
        "I couldn't finish this turn. The model API had an internal error (500) "
        "(still after 2 retries). Press Retry to try again."
    )
    for leak in ("Traceback", "Exception", "api_error", 'File "', "anthropic."):
        assert leak not in shown
    assert _controls(failure) == ["Retry", "Cancel"]
    harness.wait_idle()
    assert len(harness.anthropic.message_requests) == 3  # the SDK's own retries, then give up
    assert harness.conversation_of(CHANNEL, thread).status is ConversationStatus.FAILED

    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    harness.click(failure, "Retry")
    harness.wait_for_text(CHANNEL, thread, "Which identity providers?")
    harness.wait_idle()
    settled = harness.slack.message(CHANNEL, failure["ts"])
    assert settled is not None
    assert "Retrying (asked by alice)…" in visible_text(settled)
    assert _controls(settled) == []
    assert len(harness.bot_messages(CHANNEL, thread)) == 2
    assert harness.conversation_of(CHANNEL, thread).status is ConversationStatus.AWAITING_USER
    # The model sees the request, not our failure notice.
    assert "couldn't finish" not in harness.model_texts()
    assert "Add audit logs" in harness.model_texts()

    # A second press of a stale Retry does nothing.
    harness.click(failure, "Retry")
    harness.wait_idle()
    assert len(harness.bot_messages(CHANNEL, thread)) == 2


def test_hand_over_to_another_agent(harness: SlackHarness) -> None:
    harness.anthropic.reply_tool_use("deliver_result", PLAN)
    thread = harness.mention("Add OAuth login, everything is decided already")
    plan = harness.wait_for_text(CHANNEL, thread, "# OAuth login")
    assert f"menu:{FRONTEND}" in _controls(plan)
    assert f"menu:{BACKEND}" not in _controls(plan)  # not to the agent that has it
    harness.wait_idle()

    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    harness.select(plan, FRONTEND)
    harness.wait_for_text(CHANNEL, thread, f"Handed over from *{BACKEND}* to *{FRONTEND}*.")
    harness.wait_for_text(CHANNEL, thread, "Which identity providers?")
    harness.wait_idle()
    assert harness.conversation_of(CHANNEL, thread).agent == FRONTEND
    assert "You build user interfaces." in harness.agent_requests()[-1]["system"][0]["text"]
    assert len(harness.bot_messages(CHANNEL, thread)) == 3


def test_feedback_buttons_answer_privately(harness: SlackHarness) -> None:
    harness.anthropic.reply_tool_use("deliver_result", PLAN)
    thread = harness.mention("Add OAuth login, everything is decided already")
    plan = harness.wait_for_text(CHANNEL, thread, "# OAuth login")
    harness.wait_idle()

    harness.click(plan, "Helpful", response_name="up")
    harness.click(plan, "Not quite", user=BOB, response_name="down")
    (up,) = harness.slack.wait_for(lambda: harness.slack.responses("up"))
    (down,) = harness.slack.wait_for(lambda: harness.slack.responses("down"))
    assert up["text"] == "Thanks, noted."
    assert down["text"].startswith("Thanks. Reply in the thread with what's missing")
    assert up["response_type"] == down["response_type"] == "ephemeral"
    assert up["replace_original"] is False
    harness.wait_idle()
    ephemerals = harness.slack.ephemerals(CHANNEL)
    assert sorted(e["user"] for e in ephemerals) == sorted(["U1", BOB])
    feedback = [m.payload for m in harness.stored_messages() if m.kind is MessageKind.NOTICE]
    assert sorted(p["feedback"] for p in feedback if p) == ["down", "up"]
    assert len(harness.bot_messages(CHANNEL, thread)) == 1  # nothing said in the thread
    assert len(harness.agent_requests()) == 1


class _BrokenToolbox:
    """A toolbox with a bug: its tool raises, which a Toolbox must never do."""

    def definitions(self, agent: AgentDefinition) -> list[dict[str, Any]]:
        return [{"name": "read_file", "description": "Read a file.", "input_schema": {}}]

    def run(self, agent: AgentDefinition, name: str, arguments: dict[str, Any]) -> ToolOutput:
        raise TypeError("'int' object is not iterable")

    def describe(self, name: str, arguments: dict[str, Any]) -> str:
        return "is reading"


def test_a_crash_while_working_shows_a_short_failure_not_a_stack_trace(
    harness: SlackHarness,
) -> None:
    working_toolbox = harness.desk.toolbox
    harness.desk.toolbox = _BrokenToolbox()
    harness.anthropic.reply_tool_use("read_file", {"path": "app.py"})
    thread = harness.mention("Add audit logs")
    failure = harness.wait_for_text(CHANNEL, thread, "I couldn't finish this turn.")
    shown = visible_text(failure)
    assert shown.startswith(
        "I couldn't finish this turn. Something went wrong on our side while working on this. "
        "Press Retry to try again."
    )
    for leak in ("Traceback", "TypeError", "not iterable", 'File "'):
        assert leak not in shown
    assert _controls(failure) == ["Retry", "Cancel"]
    harness.wait_idle()

    harness.desk.toolbox = working_toolbox  # the bug is fixed; Retry works
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    harness.click(failure, "Retry")
    harness.wait_for_text(CHANNEL, thread, "Which identity providers?")
    harness.wait_idle()
    assert len(harness.bot_messages(CHANNEL, thread)) == 2


def test_a_double_click_on_an_agent_gives_one_turn(harness: SlackHarness) -> None:
    harness.anthropic.reply_tool_use(
        "choose_agent", {"agent": FRONTEND, "confident": False, "reason": "could be either"}
    )
    thread = harness.mention("Add a toggle for notifications", channel=OPEN_CHANNEL)
    choose = harness.wait_for_text(OPEN_CHANNEL, thread, "Which agent should take this?")
    harness.wait_idle()

    # The model takes a moment; the second click (or a teammate's) lands while it works.
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS, delay_seconds=0.5)
    harness.click(choose, BACKEND)
    harness.anthropic.wait_for_requests(2)
    harness.click(choose, BACKEND, user=BOB)
    harness.wait_for_text(OPEN_CHANNEL, thread, "Which identity providers?")
    harness.wait_idle()
    assert len(harness.agent_requests()) == 1
    assert len(harness.bot_messages(OPEN_CHANNEL, thread)) == 2  # the choice, the questions


def test_a_double_click_on_an_answer_counts_once(harness: SlackHarness) -> None:
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    thread = harness.mention("I need OAuth login")
    (questions,) = harness.wait_for_bot(CHANNEL, thread)
    harness.wait_idle()

    harness.anthropic.reply_tool_use("deliver_result", PLAN, delay_seconds=0.5)
    harness.click(questions, "GitHub")
    harness.anthropic.wait_for_requests(2)  # the turn is under way when the second click lands
    harness.click(questions, "GitHub")
    harness.wait_for_text(CHANNEL, thread, "# OAuth login")
    harness.wait_idle()
    assert len(harness.agent_requests()) == 2
    assert len(harness.bot_messages(CHANNEL, thread)) == 2
    assert harness.model_texts().count("Answer to question 1: GitHub") == 1

    # Once the plan is out, the questions' buttons are from an earlier state: the clicker is
    # told so, and nothing runs (a reply in the thread still revises the plan).
    harness.click(questions, "Google", user=BOB, response_name="late-answer")
    (late,) = harness.slack.wait_for(lambda: harness.slack.responses("late-answer"))
    harness.wait_idle()
    assert late["text"].startswith("The plan is delivered already")
    assert len(harness.agent_requests()) == 2
    assert len(harness.bot_messages(CHANNEL, thread)) == 2


def test_an_answer_button_pressed_after_cancel_revives_nothing(harness: SlackHarness) -> None:
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    thread = harness.mention("I need OAuth login")
    (questions,) = harness.wait_for_bot(CHANNEL, thread)
    harness.wait_idle()
    harness.click(questions, "Cancel")
    harness.wait_for_text(CHANNEL, thread, "Cancelled by alice")
    harness.wait_idle()
    asked = len(harness.agent_requests())
    posted = len(harness.bot_messages(CHANNEL, thread))

    harness.click(questions, "GitHub", response_name="stale-answer")  # the old message's button
    (answer,) = harness.slack.wait_for(lambda: harness.slack.responses("stale-answer"))
    harness.wait_idle()
    assert "cancelled" in answer["text"] and answer.get("response_type") == "ephemeral"
    assert harness.conversation_of(CHANNEL, thread).status is ConversationStatus.CANCELLED
    assert len(harness.agent_requests()) == asked  # no model call
    assert len(harness.bot_messages(CHANNEL, thread)) == posted
