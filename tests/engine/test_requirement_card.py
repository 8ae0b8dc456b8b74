"""The requirement card in the engine: versions, sign-off, withdrawal, the message edited in
place exactly once per revision, and the estimate from the desk's own history."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from bot.engine import card_keeping
from bot.engine.desk import Desk
from bot.engine.requirement_card import CardContent, changes, render_card
from bot.engine.requirement_card import CardState as State
from bot.store import cards, posting, run_records
from bot.store.db import session_scope
from bot.store.models import (
    Conversation,
    ImplementationRun,
    ImplementationStatus,
    MessageKind,
    PostState,
    utcnow,
)
from tests.engine.test_conversation import inbound
from tests.fakes.anthropic_server import FakeAnthropic, MessageSpec, ToolUseSpec
from tests.support import PLAN, QUESTIONS, RecordingPoster, desk_with, make_settings


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def desk(tmp_path: Path, fake: FakeAnthropic) -> Iterator[Desk]:
    with desk_with(make_settings(tmp_path, fake)) as ready:
        yield ready


CARD: dict[str, Any] = {
    "title": "Audit log",
    "problem": "Admins cannot see who changed a setting.",
    "acceptance_criteria": ["Every settings change is logged with who and when"],
    "open_questions": [{"question": "How long do we keep entries?", "waits_on": "bob"}],
    "touches": ["app/settings.py"],
    "size": "S",
}
AGREED: dict[str, Any] = {
    **CARD,
    "open_questions": [],
    "answered": [{"question": "How long do we keep entries?", "answer": "90 days"}],
}


def _reply(
    fake: FakeAnthropic, card: dict[str, Any] | None, tool: str, data: dict[str, Any]
) -> None:
    blocks = [ToolUseSpec("update_requirement_card", card)] if card is not None else []
    fake.enqueue(MessageSpec(content=[*blocks, ToolUseSpec(tool, data)]))


def _card_message(desk: Desk, conversation_id: int = 1) -> Any:
    with Session(desk.engine) as session:
        return cards.card_message(session=session, conversation_id=conversation_id)


def _start(desk: Desk, fake: FakeAnthropic, poster: RecordingPoster) -> None:
    desk.take_in(inbound("Add an audit log", ts="1.0", explicit_agent="backend-feature-developer"))
    _reply(fake, CARD, "ask_clarifying_questions", QUESTIONS)
    desk.work(poster=poster)


def test_the_card_is_stored_as_versions_and_its_message_revised(
    desk: Desk, fake: FakeAnthropic
) -> None:
    poster = RecordingPoster()
    _start(desk, fake, poster)
    card = _card_message(desk)
    assert card.post_state is PostState.POSTED and card.revision == 0
    assert [r.kind for r in poster.posted] == [MessageKind.CARD, MessageKind.QUESTIONS]
    assert "How long do we keep entries? _(waiting on bob)_" in card.text
    # The questions the agent asked are listed as open too, waiting on the requester.
    assert "Which identity providers? _(waiting on the requester)_" in card.text

    desk.take_in(inbound("90 days", ts="2.0"))
    _reply(fake, AGREED, "deliver_result", PLAN)
    desk.work(poster=poster)
    revised = _card_message(desk)
    assert revised.id == card.id and revised.revision == 1
    assert revised.post_state is PostState.POSTED and revised.slack_ts == card.slack_ts
    assert poster.posted[-2].slack_ts == card.slack_ts  # an edit of the posted card
    assert "ready for sign-off" in revised.text and "90 days" in revised.text
    with Session(desk.engine) as session:
        versions = cards.card_versions(session=session, conversation_id=1)
    assert [v.version for v in versions] == [1, 2]
    # The model saw the card as it stood when it revised it.
    assert "How long do we keep entries?" in str(fake.message_requests[-1].body["messages"][-1])


def test_a_card_the_agent_leaves_alone_is_not_a_new_version(
    desk: Desk, fake: FakeAnthropic
) -> None:
    poster = RecordingPoster()
    _start(desk, fake, poster)
    desk.take_in(inbound("keep them forever", ts="2.0"))
    fake.reply_text("Noted.")
    desk.work(poster=poster)
    with Session(desk.engine) as session:
        assert len(cards.card_versions(session=session, conversation_id=1)) == 1
    assert _card_message(desk).revision == 0


def test_sign_off_rules_withdrawal_and_stale_buttons(desk: Desk, fake: FakeAnthropic) -> None:
    poster = RecordingPoster()
    _start(desk, fake, poster)
    early = desk.approve(1, version=1, user_id="U1", user_name="alice")
    assert not early and "open questions" in (early.note or "")

    desk.take_in(inbound("90 days", ts="2.0"))
    _reply(fake, AGREED, "deliver_result", PLAN)
    desk.work(poster=poster)
    stale = desk.approve(1, version=1, user_id="U1", user_name="alice")
    assert not stale and "version 2" in (stale.note or "")
    other = desk.approve(1, version=2, user_id="U2", user_name="bob")
    assert not other and other.note == "Only the requester (alice) can sign this card off."
    assert desk.approve(1, version=2, user_id="U1", user_name="alice")
    twice = desk.approve(1, version=2, user_id="U1", user_name="alice")
    assert not twice and "already" in (twice.note or "")
    desk.flush_outbox(poster)
    assert "Approved by alice" in _card_message(desk).text

    changed = {**AGREED, "acceptance_criteria": [*AGREED["acceptance_criteria"], "Exportable"]}
    desk.take_in(inbound("and exportable please", ts="3.0"))
    _reply(fake, changed, "deliver_result", PLAN)
    desk.work(poster=poster)
    notice = next(m for m in reversed(desk.messages(1)) if m.kind is MessageKind.NOTICE)
    assert notice.text.startswith("Sign-off by alice withdrawn: the card changed after version 2")
    assert "the acceptance criteria" in notice.text
    assert "ready for sign-off" in _card_message(desk).text
    with Session(desk.engine) as session:
        assert cards.current_approval(session=session, conversation_id=1) is None


def test_approvers_setting_names_who_signs_off(tmp_path: Path, fake: FakeAnthropic) -> None:
    with desk_with(make_settings(tmp_path, fake, approvers="U9, S1")) as desk:
        desk.take_in(
            inbound("Add an audit log", ts="1.0", explicit_agent="backend-feature-developer")
        )
        _reply(fake, AGREED, "deliver_result", PLAN)
        desk.work(poster=RecordingPoster())
        requester = desk.approve(1, version=1, user_id="U1", user_name="alice")
        assert not requester and "<!subteam^S1>, <@U9>" in (requester.note or "")
        assert desk.approve(1, version=1, user_id="U9", user_name="nine")


def test_a_post_under_way_counts_only_for_the_revision_it_sent(
    desk: Desk, fake: FakeAnthropic
) -> None:
    _start(desk, fake, RecordingPoster())  # posted nowhere: the poster records
    card = _card_message(desk)
    with session_scope(desk.engine) as session:  # a new revision while revision 0 is out
        cards.show_card(session=session, conversation_id=1, text="newer", payload={"v": 2})
    with session_scope(desk.engine) as session:
        posting.mark_posted(
            session=session, table=type(card), row_id=card.id, ts="111.1", revision=card.revision
        )
    after = _card_message(desk)
    assert after.post_state is PostState.PENDING and after.slack_ts == "111.1"
    assert after.post_claimed_by is None  # the next flush edits it at once
    poster = RecordingPoster()
    assert desk.flush_outbox(poster, conversation_id=1) >= 1
    edited = next(r for r in poster.posted if r.kind is MessageKind.CARD)
    assert edited.slack_ts == "111.1" and edited.text == "newer"
    assert _card_message(desk).post_state is PostState.POSTED


def test_the_estimate_comes_from_past_runs_of_the_same_agent(
    desk: Desk, fake: FakeAnthropic
) -> None:
    poster = RecordingPoster()
    desk.take_in(inbound("Add an audit log", ts="1.0", explicit_agent="backend-feature-developer"))
    _reply(fake, AGREED, "deliver_result", PLAN)
    desk.work(poster=poster)
    assert "a rough guess from the plan's 1 steps" in _card_message(desk).text
    with session_scope(desk.engine) as session:
        start = utcnow()
        for cost, minutes in ((1.0, 4), (3.0, 10), (2.0, 6)):
            run_records.add_implementation_run(
                session=session,
                run=ImplementationRun(
                    conversation_id=1,
                    repo="api",
                    branch="b",
                    requested_by="U1",
                    status=ImplementationStatus.SUCCEEDED,
                    cost_usd=cost,
                    started_at=start,
                    finished_at=start + timedelta(minutes=minutes),
                ),
            )
    with session_scope(desk.engine) as session:
        conversation = session.get(Conversation, 1)
        assert conversation is not None
        snap = card_keeping.refresh(session, conversation, settings=desk.settings, repos=None)
    assert snap is not None and snap.estimate is not None
    assert snap.estimate.cost_usd == 2.0 and snap.estimate.seconds == 360
    assert "median of 3 past runs of backend-feature-developer" in snap.text


@pytest.mark.parametrize(
    ("after", "said"),
    [
        (
            {**AGREED, "answered": [*AGREED["answered"], {"question": "q", "answer": "a"}]},
            "a new answer",
        ),
        ({**AGREED, "size": "L"}, "the size"),
    ],
)
def test_changes_are_named(after: dict[str, Any], said: str) -> None:
    assert changes(CardContent.model_validate(AGREED), CardContent.model_validate(after)) == [said]


def test_the_card_text_carries_the_contract_headings() -> None:
    text = render_card(
        CardContent.model_validate(CARD), version=3, state=State.CLARIFYING, sign_off="x"
    )
    assert "**Acceptance criteria**" in text and "**Open questions**" in text
    assert "version 3" in text and "size S" in text


def test_a_malformed_card_goes_back_to_the_model_to_correct(
    desk: Desk, fake: FakeAnthropic
) -> None:
    desk.take_in(inbound("Add an audit log", ts="1.0", explicit_agent="backend-feature-developer"))
    fake.enqueue(MessageSpec(content=[ToolUseSpec("update_requirement_card", {"title": ""})]))
    _reply(fake, CARD, "ask_clarifying_questions", QUESTIONS)
    desk.work(poster=RecordingPoster())
    (result,) = fake.message_requests[-1].body["messages"][-1]["content"]
    assert result["type"] == "tool_result" and result["is_error"] is True
    assert "update_requirement_card input does not match its schema" in result["content"]
    assert "problem" in result["content"]  # names what is missing
    assert "Admins cannot see who changed a setting." in _card_message(desk).text


def test_an_agent_that_only_keeps_the_card_is_told_to_ask_or_deliver(
    desk: Desk, fake: FakeAnthropic
) -> None:
    desk.take_in(inbound("Add an audit log", ts="1.0", explicit_agent="backend-feature-developer"))
    for _ in range(2):
        fake.enqueue(MessageSpec(content=[ToolUseSpec("update_requirement_card", CARD)]))
    fake.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    desk.work(poster=RecordingPoster())
    assert len(fake.message_requests) == 3
    forced = fake.message_requests[-1].body
    assert forced["tool_choice"] == {"type": "any"}
    assert [t["name"] for t in forced["tools"]] == ["ask_clarifying_questions", "deliver_result"]
    assert desk.messages(1)[-1].kind is MessageKind.QUESTIONS
    assert "How long do we keep entries?" in _card_message(desk).text
