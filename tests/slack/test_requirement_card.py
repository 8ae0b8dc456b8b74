"""The requirement card over real HTTP: one message edited in place, signed off by the right
people, and the gate in front of implementation runs."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.engine.followups import FollowUps
from tests.fakes.anthropic_server import MessageSpec, ToolUseSpec
from tests.fakes.slack_server import visible_text
from tests.slack.conftest import ALICE, BOB, CHANNEL, TEAM, SlackHarness
from tests.support import PLAN, QUESTIONS

pytest.importorskip("claude_agent_sdk", reason="the agentdesk[implement] extra is not installed")

CAROL = "U0CAROL"

CARD_ASKING: dict[str, Any] = {
    "title": "OAuth login",
    "problem": "People want to sign in with the accounts they already have.",
    "acceptance_criteria": ["A person can sign in with GitHub", "Existing accounts are linked"],
    "out_of_scope": ["SAML"],
    "open_questions": [
        {"question": "Which identity providers?"},
        {"question": "Do existing password accounts need linking?", "waits_on": "bob"},
    ],
    "touches": ["app/billing/invoice.py"],
    "risks": ["Account takeover through unverified emails"],
    "size": "M",
}
CARD_AGREED: dict[str, Any] = {
    **CARD_ASKING,
    "open_questions": [],
    "answered": [
        {"question": "Which identity providers?", "answer": "GitHub only"},
        {"question": "Do existing password accounts need linking?", "answer": "Yes, by email"},
    ],
}
CARD_CHANGED: dict[str, Any] = {
    **CARD_AGREED,
    "acceptance_criteria": [*CARD_AGREED["acceptance_criteria"], "Sign-in works on mobile"],
}


def _with_card(
    harness: SlackHarness, card: dict[str, Any], tool: str, data: dict[str, Any]
) -> None:
    """The model keeps the card and asks or delivers in one reply, as the prompt asks."""
    harness.anthropic.enqueue(
        MessageSpec(content=[ToolUseSpec("update_requirement_card", card), ToolUseSpec(tool, data)])
    )


def _refusal(harness: SlackHarness, conversation_id: int) -> str:
    return harness.command(f"implement {conversation_id}").body


def _agreed_thread(harness: SlackHarness) -> tuple[str, dict[str, Any]]:
    _with_card(harness, CARD_ASKING, "ask_clarifying_questions", QUESTIONS)
    thread = harness.mention("I need OAuth login")
    first = harness.wait_for_card(CHANNEL, thread, "Open questions")
    harness.wait_idle()
    _with_card(harness, CARD_AGREED, "deliver_result", PLAN)
    harness.say("GitHub only; link by email", thread_ts=thread)
    harness.wait_for_card(CHANNEL, thread, "ready for sign-off")
    harness.wait_idle()
    return thread, first


@pytest.mark.app_settings(implement_enabled=True)
def test_the_card_is_edited_in_place_signed_off_and_then_gates_implementation(
    harness: SlackHarness,
) -> None:
    _with_card(harness, CARD_ASKING, "ask_clarifying_questions", QUESTIONS)
    thread = harness.mention("I need OAuth login")
    card = harness.wait_for_card(CHANNEL, thread, "Open questions")
    harness.wait_for_text(CHANNEL, thread, "Which identity providers?")
    harness.wait_idle()
    shown = visible_text(card)
    assert "Acceptance criteria" in shown and "A person can sign in with GitHub" in shown
    assert "waiting on bob" in shown and "clarifying" in shown
    assert "Approve" not in shown  # nothing to sign off while questions are open
    conversation = harness.conversation_of(CHANNEL, thread)
    assert "open questions" in _refusal(harness, conversation.id)

    _with_card(harness, CARD_AGREED, "deliver_result", PLAN)
    harness.say("GitHub only; link by email", thread_ts=thread)
    ready = harness.wait_for_card(CHANNEL, thread, "ready for sign-off")
    harness.wait_idle()
    assert ready["ts"] == card["ts"]  # the same message, edited
    assert "GitHub only" in visible_text(ready) and "version 2" in visible_text(ready)
    refused = _refusal(harness, conversation.id)
    assert "not signed off yet" in refused and "the requester (alice)" in refused
    (waiting,) = harness.desk.home(team_id=TEAM, user_id=ALICE, admin=False).questions
    assert waiting.waits_for == "your sign-off of its requirement card"
    assert harness.desk.home(team_id=TEAM, user_id=BOB, admin=False).questions == []

    # Bob is not the requester: his Approve is refused, only to him, naming who may.
    harness.click(ready, "Approve", user=BOB, response_name="bob")
    answer = harness.slack.wait_for(
        lambda: harness.slack.responses("bob") or None, timeout=10, message="an answer"
    )
    assert "Only the requester (alice) can sign this card off." in answer[0]["text"]
    harness.wait_idle()
    assert "ready for sign-off" in visible_text(harness.card(CHANNEL, thread) or {})

    harness.click(ready, "Approve", user=ALICE)
    approved = harness.wait_for_card(CHANNEL, thread, "Approved by alice")
    harness.wait_for_text(CHANNEL, thread, "alice signed off the requirement card (version 2)")
    harness.wait_idle()
    assert approved["ts"] == card["ts"]
    # The card no longer stands in the way: what is left is where to push.
    assert "I can't push anywhere yet" in _refusal(harness, conversation.id)

    # A new answer changes the card: the sign-off is withdrawn, and the thread says so.
    _with_card(harness, CARD_CHANGED, "deliver_result", PLAN)
    harness.say("Oh, and it must work on mobile", thread_ts=thread)
    harness.wait_for_text(CHANNEL, thread, "Sign-off by alice withdrawn")
    again = harness.wait_for_card(CHANNEL, thread, "Sign-in works on mobile")
    harness.wait_idle()
    assert again["ts"] == card["ts"] and "ready for sign-off" in visible_text(again)
    assert "not signed off yet" in _refusal(harness, conversation.id)


@pytest.fixture
def extra_settings(tmp_path: Path) -> dict[str, Any]:
    repo = tmp_path / "api"
    (repo / ".github").mkdir(parents=True)
    (repo / ".github" / "CODEOWNERS").write_text(
        "# everything\n* @acme/everyone\n/app/billing/ @carol-gh @acme/payments\n",
        encoding="utf-8",
    )
    (repo / "app" / "billing").mkdir(parents=True)
    (repo / "app" / "billing" / "invoice.py").write_text("TOTAL = 0\n", encoding="utf-8")
    return {"repos": f"api={repo}", "codeowners_slack": f"@carol-gh={CAROL}"}


@pytest.mark.app_settings(require_codeowners=True)
def test_with_codeowners_only_an_owner_of_the_named_path_signs_off(harness: SlackHarness) -> None:
    harness.slack.add_usergroup("S0PAY", "payments", "Payments", users=[BOB])
    harness.slack.add_usergroup("S0ALL", "everyone", "Everyone", users=[ALICE, BOB, CAROL])
    thread, _ = _agreed_thread(harness)
    card = harness.wait_for_card(CHANNEL, thread, "ready for sign-off")
    assert "a code owner of `app/billing/invoice.py` (@acme/payments, @carol-gh)" in visible_text(
        card
    )

    # The requester owns nothing here (`*` is overridden by the later billing line).
    harness.click(card, "Approve", user=ALICE, response_name="alice")
    answer = harness.slack.wait_for(
        lambda: harness.slack.responses("alice") or None, timeout=10, message="an answer"
    )
    assert "Only a code owner of `app/billing/invoice.py`" in answer[0]["text"]
    harness.wait_idle()
    assert "Approved" not in visible_text(harness.card(CHANNEL, thread) or {})

    # Bob is in @acme/payments, found as the Slack user group with the team's handle.
    harness.click(card, "Approve", user=BOB)
    harness.wait_for_card(CHANNEL, thread, "Approved by bob")


def _followups(harness: SlackHarness, **overrides: object) -> FollowUps:
    settings = harness.desk.settings.model_copy(
        update={
            "working_hours_start": 0,
            "working_hours_end": 24,
            "working_days": "mon,tue,wed,thu,fri,sat,sun",
            **overrides,
        }
    )
    return FollowUps(
        engine=harness.desk.engine,
        settings=settings,
        timezone_of=lambda _user: None,
        repos=harness.desk.repo_set(),
    )


def test_an_unsigned_card_escalates_to_the_approvers_once(harness: SlackHarness) -> None:
    harness.slack.add_usergroup("S0LEADS", "leads", "Leads", users=[BOB])
    thread, _ = _agreed_thread(harness)
    jobs = _followups(harness, escalate_after=0.5, approvers=f"{BOB},S0LEADS")
    now = datetime.now(UTC)
    assert jobs.escalate(now + timedelta(minutes=20)) == 0  # not yet half an hour
    assert jobs.escalate(now + timedelta(minutes=40)) == 1
    assert jobs.escalate(now + timedelta(minutes=50)) == 0  # once per wait
    harness.app.worker.kick()
    nudge = harness.wait_for_text(CHANNEL, thread, "waited 0.5 working hours")
    shown = visible_text(nudge)
    assert shown.startswith(f"<!subteam^S0LEADS> <@{BOB}> This request has waited")
    assert "the sign-off of its requirement card" in shown

    digests = _followups(harness, digest_channel="C0DIGEST", digest_frequency="daily")
    assert digests.queue_digest(now + timedelta(days=1)) is True
    harness.app.worker.kick()
    digest = harness.slack.wait_for(
        lambda: next(iter(harness.slack.messages("C0DIGEST")), None), message="the digest"
    )
    assert "Requirement cards waiting for sign-off:** 1 (the oldest for 24" in visible_text(digest)


def test_unanswered_questions_escalate_to_the_channels_creator(harness: SlackHarness) -> None:
    harness.slack.add_channel(CHANNEL, creator=CAROL)
    _with_card(harness, CARD_ASKING, "ask_clarifying_questions", QUESTIONS)
    thread = harness.mention("I need OAuth login")
    harness.wait_for_text(CHANNEL, thread, "Which identity providers?")
    harness.wait_idle()
    jobs = _followups(harness, escalate_after=0.25)
    assert jobs.escalate(datetime.now(UTC) + timedelta(minutes=30)) == 1
    harness.app.worker.kick()
    nudge = harness.wait_for_text(CHANNEL, thread, "answers to its questions")
    assert visible_text(nudge).startswith(f"<@{CAROL}> This request has waited")
