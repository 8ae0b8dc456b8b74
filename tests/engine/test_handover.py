"""Naming another agent inside a thread hands the thread over, through the real desk."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from bot.engine.desk import Desk
from bot.engine.inbound import InboundMessage, Source
from bot.store import confirmed_routes
from tests.fakes.anthropic_server import FakeAnthropic
from tests.support import QUESTIONS, RecordingPoster, desk_with, make_settings


def inbound(text: str, *, ts: str, **extra: object) -> InboundMessage:
    values: dict[str, object] = {
        "team_id": "T1",
        "channel_id": "C1",
        "thread_ts": "100.000",
        "ts": ts,
        "user_id": "U1",
        "user_name": "alice",
        "text": text,
        "source": Source.MENTION,
        "event_keys": (f"msg:T1:C1:{ts}",),
    }
    values.update(extra)
    return InboundMessage(**values)  # type: ignore[arg-type]


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def desk(tmp_path: Path, fake: FakeAnthropic) -> Iterator[Desk]:
    with desk_with(make_settings(tmp_path, fake)) as ready:
        yield ready


def test_naming_an_agent_in_the_thread_hands_it_over_and_is_learned(
    desk: Desk, fake: FakeAnthropic
) -> None:
    poster = RecordingPoster()
    intake = desk.take_in(
        inbound(
            "Redo the settings screen layout",
            ts="100.000",
            explicit_agent="backend-feature-developer",
        )
    )
    assert intake.conversation_id is not None
    fake.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    desk.work(poster=poster)
    assert desk.conversation(intake.conversation_id).agent == "backend-feature-developer"  # type: ignore[union-attr]

    desk.take_in(inbound("frontend-feature-developer: take over", ts="101.000"))
    fake.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    desk.work(poster=poster)
    conversation = desk.conversation(intake.conversation_id)
    assert conversation is not None and conversation.agent == "frontend-feature-developer"
    with Session(desk.engine) as session:
        learned = confirmed_routes.route_examples(session=session, team_id="T1")
    assert [(e.agent, e.text) for e in learned] == [
        ("frontend-feature-developer", "Redo the settings screen layout")
    ]
