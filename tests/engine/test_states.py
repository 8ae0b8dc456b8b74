"""The conversation state machine, and people's actions that no longer fit the state."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.engine.desk import Desk
from bot.engine.states import Transition, can, move
from bot.store import pruning
from bot.store.db import session_scope
from bot.store.models import (
    Conversation,
    ConversationStatus,
    InboundEvent,
    PendingWork,
    SeenEvent,
    WorkStatus,
)
from tests.engine.test_conversation import inbound
from tests.fakes.anthropic_server import FakeAnthropic
from tests.support import PLAN, desk_with, make_settings

S = ConversationStatus
BACKEND = "backend-feature-developer"


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    with FakeAnthropic() as fake, desk_with(make_settings(tmp_path, fake)) as ready:
        ready.fake = fake  # type: ignore[attr-defined]
        yield ready  # type: ignore[misc]


@pytest.mark.parametrize(
    ("start", "transition", "allowed"),
    [
        (S.CANCELLED, Transition.CHOOSE_AGENT, False),
        (S.CANCELLED, Transition.RETRY, False),
        (S.CANCELLED, Transition.HAND_OVER, False),
        (S.CANCELLED, Transition.RESTART, True),
        (S.CLOSED, Transition.CANCEL, False),
        (S.DELIVERED, Transition.CHOOSE_AGENT, False),
        (S.DELIVERED, Transition.HAND_OVER, True),
        (S.WORKING, Transition.RETRY, False),
        (S.FAILED, Transition.RETRY, True),
        (S.AWAITING_USER, Transition.PERSON_REPLIED, True),
        (S.AWAITING_USER, Transition.DELIVER, False),
    ],
)
def test_transitions_fit_or_change_nothing(
    start: ConversationStatus, transition: Transition, allowed: bool
) -> None:
    conversation = Conversation(team_id="T", channel_id="C", thread_ts="1.0", requester_id="U")
    conversation.status = start
    assert can(conversation, transition) is allowed
    assert move(conversation, transition) is allowed
    if not allowed:
        assert conversation.status is start


def test_a_stale_choose_button_does_not_revive_a_cancelled_conversation(desk: Desk) -> None:
    intake = desk.take_in(inbound("I need OAuth login", ts="100.000"))
    assert intake.conversation_id is not None
    assert desk.cancel(intake.conversation_id, by="alice")
    outcome = desk.choose_agent(intake.conversation_id, BACKEND, by="bob")
    assert not outcome and "cancelled" in (outcome.note or "")
    assert not desk.retry(intake.conversation_id)
    conversation = desk.conversation(intake.conversation_id)
    assert conversation is not None and conversation.status is S.CANCELLED
    assert conversation.agent is None
    assert desk.work() == 0  # nothing queued: no model call


def test_a_second_cancel_says_it_is_cancelled_already(desk: Desk) -> None:
    intake = desk.take_in(inbound("I need OAuth login", ts="100.000"))
    assert intake.conversation_id is not None
    assert desk.cancel(intake.conversation_id)
    again = desk.cancel(intake.conversation_id)
    assert not again and again.note == (
        "This request was cancelled. Reply in its thread to start it again."
    )


def test_a_hand_over_of_a_delivered_plan_queues_the_new_agent(desk: Desk) -> None:
    intake = desk.take_in(inbound("I need OAuth login", ts="100.000", explicit_agent=BACKEND))
    assert intake.conversation_id is not None
    desk.fake.reply_tool_use("deliver_result", PLAN)  # type: ignore[attr-defined]
    desk.work()
    conversation = desk.conversation(intake.conversation_id)
    assert conversation is not None and conversation.status is S.DELIVERED
    assert not desk.choose_agent(intake.conversation_id, "frontend-feature-developer")
    assert desk.choose_agent(intake.conversation_id, "frontend-feature-developer", hand_over=True)
    conversation = desk.conversation(intake.conversation_id)
    assert conversation is not None and conversation.status is S.WORKING
    assert conversation.agent == "frontend-feature-developer"


def test_pruning_forgets_old_keys_and_finished_work_in_batches(desk: Desk) -> None:
    old = datetime.now(UTC) - timedelta(days=30)
    with session_scope(desk.engine) as session:
        for number in range(25):
            session.add(SeenEvent(key=f"old{number}", created_at=old))
        session.add(SeenEvent(key="new"))
        conversation = Conversation(team_id="T", channel_id="C", thread_ts="1.0", requester_id="U")
        session.add(conversation)
        session.flush()
        assert conversation.id is not None
        session.add(
            PendingWork(conversation_id=conversation.id, status=WorkStatus.DONE, finished_at=old)
        )
        session.add(PendingWork(conversation_id=conversation.id, status=WorkStatus.QUEUED))
        session.add(
            InboundEvent(key="e1", kind="event", body={}, status=WorkStatus.DONE, finished_at=old)
        )
    removed = pruning.prune(
        engine=desk.engine, before=datetime.now(UTC) - timedelta(days=14), batch=10
    )
    assert removed == {"seen_event": 25, "pending_work": 1, "inbound_event": 1}
    with Session(desk.engine) as session:
        assert session.exec(select(SeenEvent.key)).all() == ["new"]
        assert [w.status for w in session.exec(select(PendingWork)).all()] == [WorkStatus.QUEUED]
