"""A channel's monthly budget: once spent, a polite answer instead of a model call."""

from datetime import UTC, datetime
from pathlib import Path

from bot.engine.budget import budget_state, month_start
from bot.store.db import session_scope
from bot.store.models import ConversationStatus, MessageKind
from tests.engine.test_conversation import inbound
from tests.fakes.anthropic_server import FakeAnthropic
from tests.support import QUESTIONS, RecordingPoster, desk_with, make_settings

# 1M input and 100k output tokens on sonnet: $3 + $1.50.
USAGE = {"input_tokens": 1_000_000, "output_tokens": 100_000}


def test_month_start_is_midnight_utc_on_the_first() -> None:
    moment = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)
    assert month_start(moment) == datetime(2026, 11, 1, tzinfo=UTC)


def test_spent_budget_answers_politely_without_calling_the_model(tmp_path: Path) -> None:
    with FakeAnthropic() as fake:
        settings = make_settings(tmp_path, fake, channel_monthly_budget_usd=4.0)
        with desk_with(settings) as desk:
            poster = RecordingPoster()
            first = desk.take_in(
                inbound(
                    "I need OAuth login", ts="100.000", explicit_agent="backend-feature-developer"
                )
            )
            fake.reply_tool_use("ask_clarifying_questions", QUESTIONS, usage=USAGE)
            assert desk.work(poster=poster) == 1
            assert len(fake.requests) == 1
            with session_scope(desk.engine) as session:
                state = budget_state(
                    session=session, settings=settings, team_id="T1", channel_id="C1"
                )
            assert state.spent >= 4.5 and state.exhausted

            desk.take_in(inbound("Google only", ts="101.000"))
            assert desk.work(poster=poster) == 1
            assert len(fake.requests) == 1  # the model was not called again
            assert first.conversation_id is not None
            conversation = desk.conversation(first.conversation_id)
            assert conversation is not None
            assert conversation.status is ConversationStatus.FAILED
            refusal = poster.posted[-1]
            assert refusal.kind is MessageKind.FAILURE  # Slack shows Retry with it
            assert "model budget for" in refusal.text and "$4.00" in refusal.text

            # The channel's own budget overrides the setting; raising it lets Retry work.
            desk.configure_channel(team_id="T1", channel_id="C1", monthly_budget_usd=100.0)
            fake.reply_text("Noted: Google only.")
            assert desk.retry(first.conversation_id)
            assert desk.work(poster=poster) == 1
            assert len(fake.requests) == 2


def test_no_budget_means_no_limit(tmp_path: Path) -> None:
    with FakeAnthropic() as fake, desk_with(make_settings(tmp_path, fake)) as desk:
        for number in range(2):
            desk.take_in(
                inbound(
                    "I need OAuth login",
                    ts=f"10{number}.000",
                    thread_ts=f"10{number}.000",
                    explicit_agent="backend-feature-developer",
                )
            )
            fake.reply_text("On it.", usage=USAGE)
            assert desk.work(poster=RecordingPoster()) == 1
        assert len(fake.requests) == 2
