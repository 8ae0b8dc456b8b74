"""Follow-ups reach the channel: a reminder in the thread, the digest at the top."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.engine.followups import FollowUps
from bot.store.db import session_scope
from bot.store.models import Conversation
from tests.fakes.slack_server import visible_text
from tests.slack.conftest import ALICE, CHANNEL, SlackHarness
from tests.support import QUESTIONS

LOS_ANGELES = ZoneInfo("America/Los_Angeles")  # Alice's zone in the fake's users.info
MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=LOS_ANGELES)


def _followups(harness: SlackHarness, **overrides: object) -> FollowUps:
    users = harness.app.services.users
    settings = harness.desk.settings.model_copy(update=overrides)
    return FollowUps(
        engine=harness.desk.engine, settings=settings, timezone_of=lambda u: users.get(u).tz
    )


def _waiting_since(harness: SlackHarness, thread: str, since: datetime) -> None:
    with session_scope(harness.desk.engine) as session:
        conversation = harness.conversation_of(CHANNEL, thread)
        stored = session.get(Conversation, conversation.id)
        assert stored is not None
        stored.awaiting_since = since.astimezone(UTC)


def test_a_reminder_arrives_in_the_thread_naming_the_requester(harness: SlackHarness) -> None:
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    thread = harness.mention("I need OAuth login for our users")
    harness.wait_for_bot(CHANNEL, thread)
    harness.wait_idle()
    _waiting_since(harness, thread, MONDAY_9)

    jobs = _followups(harness)
    assert jobs.send_reminders(MONDAY_9 + timedelta(hours=20)) == 0  # 05:00 in Los Angeles
    assert jobs.send_reminders(MONDAY_9 + timedelta(days=1, hours=1)) == 1
    harness.app.worker.kick()
    reminder = harness.wait_for_text(CHANNEL, thread, "A gentle reminder")
    shown = visible_text(reminder)
    assert shown.startswith(f"<@{ALICE}> A gentle reminder")
    assert "1. Which identity providers?" in shown
    harness.wait_idle()
    assert len(harness.bot_messages(CHANNEL, thread)) == 2
    assert harness.anthropic.message_requests[-1:] == harness.anthropic.message_requests[:1]


def test_the_digest_is_posted_once_at_the_top_of_its_channel(harness: SlackHarness) -> None:
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    thread = harness.mention("I need OAuth login for our users")
    harness.wait_for_bot(CHANNEL, thread)
    harness.wait_idle()

    jobs = _followups(harness, digest_channel="C0DIGEST", digest_frequency="daily")
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert jobs.queue_digest(tomorrow) is True
    assert jobs.queue_digest(tomorrow) is False
    harness.app.worker.kick()
    digest = harness.slack.wait_for(
        lambda: next(iter(harness.slack.messages("C0DIGEST")), None), message="the digest"
    )
    shown = visible_text(digest)
    assert digest["thread_ts"] is None
    assert "**Waiting on people:** 1" in shown
    assert "[I need OAuth login for our users](" in shown  # a link to the thread
    assert f"from <@{ALICE}>" in shown  # the requester's mention survives sanitizing
    assert "someone" not in shown
    harness.wait_idle()
    assert len(harness.slack.messages("C0DIGEST")) == 1
