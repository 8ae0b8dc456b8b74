"""Reminders, auto-close, the digest and retention, with an injected clock (no sleeping)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from bot.engine.desk import Desk
from bot.engine.followups import FollowUps
from bot.store.db import session_scope
from bot.store.models import Conversation, ConversationStatus, Message, MessageKind, ScheduledPost
from tests.engine.test_conversation import QUESTIONS, inbound
from tests.fakes.anthropic_server import FakeAnthropic
from tests.support import RecordingPoster, desk_with, make_settings, stored_conversation

NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
# Monday 2026-11-23, 09:00 in New York.
MONDAY_9_NY = datetime(2026, 11, 23, 9, 0, tzinfo=NEW_YORK)


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def desk(tmp_path: Path, fake: FakeAnthropic) -> Iterator[Desk]:
    with desk_with(make_settings(tmp_path, fake, digest_channel="CDIGEST")) as ready:
        yield ready


def followups(desk: Desk, zones: dict[str, str] | None = None) -> FollowUps:
    zones = zones if zones is not None else {"U1": "America/New_York"}
    return FollowUps(engine=desk.engine, settings=desk.settings, timezone_of=zones.get)


def waiting_conversation(
    desk: Desk, fake: FakeAnthropic, *, since: datetime, user: str = "U1", thread: str = "100.000"
) -> int:
    """A conversation whose agent asked questions at `since`."""
    intake = desk.take_in(
        inbound(
            "Add OAuth login",
            ts=thread,
            user=user,
            thread_ts=thread,
            explicit_agent="backend-feature-developer",
            event_keys=(f"msg:{thread}",),
        )
    )
    fake.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    desk.work()
    assert intake.conversation_id is not None
    with session_scope(desk.engine) as session:
        conversation = session.get(Conversation, intake.conversation_id)
        assert conversation is not None
        assert conversation.status is ConversationStatus.AWAITING_USER
        conversation.awaiting_since = since.astimezone(UTC)
        conversation.last_activity_at = since.astimezone(UTC)
    return intake.conversation_id


def reminders(desk: Desk, conversation_id: int) -> list[Message]:
    return [m for m in desk.messages(conversation_id) if m.kind is MessageKind.REMINDER]


def test_a_reminder_inside_working_hours_names_the_requester_and_questions(
    desk: Desk, fake: FakeAnthropic
) -> None:
    conversation_id = waiting_conversation(desk, fake, since=MONDAY_9_NY)
    tuesday_10 = MONDAY_9_NY + timedelta(days=1, hours=1)
    assert followups(desk).send_reminders(tuesday_10) == 1
    (reminder,) = reminders(desk, conversation_id)
    assert reminder.payload is not None and reminder.payload["requester_id"] == "U1"
    assert reminder.text == (
        "A gentle reminder: I'm waiting for your answers before I go on.\n"
        "1. Which identity providers?\n"
        "2. Do existing password accounts need linking?"
    )


def test_less_than_a_working_day_sends_nothing(desk: Desk, fake: FakeAnthropic) -> None:
    conversation_id = waiting_conversation(desk, fake, since=MONDAY_9_NY)
    assert followups(desk).send_reminders(MONDAY_9_NY + timedelta(hours=7)) == 0
    assert reminders(desk, conversation_id) == []


def test_no_reminder_at_night_or_at_the_weekend_in_the_requesters_zone(
    desk: Desk, fake: FakeAnthropic
) -> None:
    conversation_id = waiting_conversation(desk, fake, since=MONDAY_9_NY)
    tuesday_3am = MONDAY_9_NY + timedelta(hours=18)
    assert followups(desk).send_reminders(tuesday_3am) == 0
    friday_9_tokyo = datetime(2026, 11, 27, 9, 0, tzinfo=TOKYO)
    tokyo_id = waiting_conversation(desk, fake, since=friday_9_tokyo, user="U9", thread="200.000")
    saturday_noon_tokyo = friday_9_tokyo + timedelta(days=1, hours=3)
    zones = {"U1": "America/New_York", "U9": "Asia/Tokyo"}
    assert followups(desk, zones).send_reminders(saturday_noon_tokyo) == 0
    # Monday morning in Tokyo is still Sunday evening in New York: only Tokyo is reminded.
    monday_10_tokyo = datetime(2026, 11, 30, 10, 0, tzinfo=TOKYO)
    assert followups(desk, zones).send_reminders(monday_10_tokyo) == 1
    assert len(reminders(desk, tokyo_id)) == 1
    assert reminders(desk, conversation_id) == []


def test_an_answer_cancels_the_reminder(desk: Desk, fake: FakeAnthropic) -> None:
    conversation_id = waiting_conversation(desk, fake, since=MONDAY_9_NY)
    desk.take_in(inbound("Google only", ts="101.000"))
    assert followups(desk).send_reminders(MONDAY_9_NY + timedelta(days=1, hours=2)) == 0
    assert reminders(desk, conversation_id) == []


def test_the_maximum_is_respected(desk: Desk, fake: FakeAnthropic) -> None:
    conversation_id = waiting_conversation(desk, fake, since=MONDAY_9_NY)
    jobs = followups(desk)
    sent = [jobs.send_reminders(MONDAY_9_NY + timedelta(days=day, hours=1)) for day in range(1, 6)]
    assert sent == [1, 1, 0, 0, 0]
    texts = [m.text for m in reminders(desk, conversation_id)]
    assert texts[-1].endswith("This is my last reminder; reply any time to pick it up again.")


def test_a_sweep_run_twice_or_restarted_midway_sends_nothing_twice(
    tmp_path: Path, fake: FakeAnthropic
) -> None:
    settings = make_settings(tmp_path, fake)
    tuesday_10 = MONDAY_9_NY + timedelta(days=1, hours=1)
    with desk_with(settings) as desk:
        conversation_id = waiting_conversation(desk, fake, since=MONDAY_9_NY)
        assert followups(desk).sweep(tuesday_10).reminders == 1
        assert followups(desk).sweep(tuesday_10).reminders == 0
        # The process dies here: the reminder is stored but not posted.
    poster = RecordingPoster()
    with desk_with(settings) as restarted:
        assert followups(restarted).sweep(tuesday_10 + timedelta(minutes=5)).reminders == 0
        restarted.flush_outbox(poster)
        restarted.flush_outbox(poster)
    posted_reminders = [m for m in poster.posted if m.kind is MessageKind.REMINDER]
    # the card, the questions, the reminder
    assert len(posted_reminders) == 1 and len(poster.posted) == 3
    reminded = [
        thread
        for thread, reply in zip(poster.threads, poster.posted, strict=True)
        if reply.kind is MessageKind.REMINDER
    ]
    assert reminded == [conversation_id]


def test_auto_close_after_idle_days_and_a_reply_reopens(desk: Desk, fake: FakeAnthropic) -> None:
    conversation_id = waiting_conversation(desk, fake, since=MONDAY_9_NY)
    jobs = followups(desk)
    assert jobs.auto_close(MONDAY_9_NY + timedelta(days=6)) == 0
    assert jobs.auto_close(MONDAY_9_NY + timedelta(days=7, hours=1)) == 1
    assert jobs.auto_close(MONDAY_9_NY + timedelta(days=7, hours=2)) == 0
    conversation = stored_conversation(desk, conversation_id)
    assert conversation is not None and conversation.status is ConversationStatus.CLOSED
    assert desk.messages(conversation_id)[-1].text == (
        "Closing this thread after 7 days without activity. Reply here to reopen it."
    )
    desk.take_in(inbound("Sorry, back now: Google only", ts="300.000"))
    reopened = stored_conversation(desk, conversation_id)
    assert reopened is not None and reopened.status is ConversationStatus.WORKING
    assert reopened.agent == "backend-feature-developer"
    fake.reply_text("Thanks, noted.")
    assert desk.work() == 1


def test_digest_content_and_once_per_period(desk: Desk, fake: FakeAnthropic) -> None:
    waiting_conversation(desk, fake, since=MONDAY_9_NY)
    desk.take_in(
        inbound(
            "Add SSO", ts="400.000", thread_ts="400.000", explicit_agent="backend-feature-developer"
        )
    )
    fake.reply_tool_use(
        "deliver_result", {"title": "SSO", "summary": "Use SAML.", "document": "## Plan"}
    )
    desk.work()
    desk.take_in(
        inbound(
            "Add a page",
            ts="500.000",
            thread_ts="500.000",
            explicit_agent="frontend-feature-developer",
        )
    )
    fake.reply_error(400, "invalid_request_error", "bad request")
    desk.work()

    now = datetime.now(UTC) + timedelta(days=7)
    jobs = followups(desk)
    assert jobs.queue_digest(now) is True
    assert jobs.queue_digest(now + timedelta(minutes=10)) is False
    with Session(desk.engine) as session:
        (post,) = session.exec(select(ScheduledPost)).all()
    assert post.channel_id == "CDIGEST" and post.payload is not None
    payload = post.payload
    assert payload["new_requests"] == 3
    assert payload["new_by_agent"] == {
        "backend-feature-developer": 2,
        "frontend-feature-developer": 1,
    }
    assert [item["title"] for item in payload["waiting"]] == ["Add OAuth login"]
    assert payload["delivered"] == 1
    assert [item["title"] for item in payload["failed"]] == ["Add a page"]
    assert "**Waiting on people:** 1" in post.text and "- Add OAuth login" in post.text

    poster = RecordingPoster()
    desk.flush_outbox(poster)
    assert [p.key for p in poster.channel_posts] == [post.key]


def test_retention_deletes_only_old_text(tmp_path: Path, fake: FakeAnthropic) -> None:
    with desk_with(make_settings(tmp_path, fake, retention_days=30)) as desk:
        old_id = waiting_conversation(desk, fake, since=MONDAY_9_NY)
        with session_scope(desk.engine) as session:
            for message in session.exec(select(Message).where(Message.conversation_id == old_id)):
                message.created_at = datetime.now(UTC) - timedelta(days=40)
            conversation = session.get(Conversation, old_id)
            assert conversation is not None
            conversation.created_at = datetime.now(UTC) - timedelta(days=40)
        new = desk.take_in(inbound("Fresh request", ts="600.000", thread_ts="600.000"))
        assert new.conversation_id is not None
        before = stored_conversation(desk, old_id)
        assert followups(desk).apply_retention(datetime.now(UTC)) == 3  # request, card, questions
        old_messages = desk.messages(old_id)
        assert all(m.text == "" and m.payload is None for m in old_messages)
        assert [m.text for m in desk.messages(new.conversation_id)] == ["Fresh request"]
        after = stored_conversation(desk, old_id)
        assert before is not None and after is not None
        assert after.title == "" and after.agent == before.agent
        assert after.input_tokens == before.input_tokens > 0
        assert sum(m.output_tokens for m in old_messages) > 0


def test_retention_is_off_by_default(desk: Desk, fake: FakeAnthropic) -> None:
    waiting_conversation(desk, fake, since=MONDAY_9_NY)
    assert followups(desk).apply_retention(datetime.now(UTC) + timedelta(days=3650)) == 0


def test_each_workspace_gets_a_digest_of_its_own_requests_only(
    tmp_path: Path, fake: FakeAnthropic
) -> None:
    settings = make_settings(tmp_path, fake, digest_channel="T1:CDIGEST, T2:CTWO")
    with desk_with(settings) as desk:
        waiting_conversation(desk, fake, since=MONDAY_9_NY)  # in T1
        desk.take_in(
            inbound(
                "Add SSO",
                ts="400.000",
                thread_ts="400.000",
                team_id="T2",
                event_keys=("msg:T2:C1:400.000",),
                explicit_agent="backend-feature-developer",
            )
        )
        fake.reply_tool_use(
            "deliver_result", {"title": "SSO", "summary": "Use SAML.", "document": "## Plan"}
        )
        desk.work()
        sso = desk.find_conversation(team_id="T2", channel_id="C1", thread_ts="400.000")
        assert sso is not None and sso.id is not None
        desk.record_feedback(sso.id, message_id=None, rating="up", by="U1")
        desk.record_feedback(sso.id, message_id=None, rating="down", by="U2")
        desk.record_feedback(sso.id, message_id=None, rating="up", by="U3")
        assert followups(desk).queue_digest(datetime.now(UTC) + timedelta(days=7)) is True
        with Session(desk.engine) as session:
            posts = {p.team_id: p for p in session.exec(select(ScheduledPost)).all()}
    assert set(posts) == {"T1", "T2"}
    one, two = posts["T1"].payload, posts["T2"].payload
    assert one is not None and two is not None
    assert posts["T1"].channel_id == "CDIGEST" and posts["T2"].channel_id == "CTWO"
    assert (one["new_requests"], one["delivered"], one["waiting_total"]) == (1, 0, 1)
    assert (two["new_requests"], two["delivered"], two["waiting_total"]) == (1, 1, 0)
    assert (two["helpful"], two["not_helpful"]) == (2, 1)
    assert (one["helpful"], one["not_helpful"]) == (0, 0)
    assert "- rated helpful 2, not quite 1" in posts["T2"].text
    assert "rated helpful" not in posts["T1"].text
