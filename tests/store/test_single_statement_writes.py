"""Writes done in one statement (no read first), on SQLite and PostgreSQL alike: a seen
event key, closing a leased row, claiming and marking an outbox post."""

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.store import pending_work, posting, queue, seen_events
from bot.store.db import session_scope, upgrade
from bot.store.models import (
    Conversation,
    Message,
    MessageRole,
    PendingWork,
    PostState,
    WorkStatus,
)

LEASE = timedelta(minutes=5)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A migrated database of each kind (PostgreSQL skips when there is none)."""
    engine: Engine = request.getfixturevalue(f"{request.param}_engine")
    upgrade(engine)
    yield engine


def _conversation(session: Session) -> int:
    conversation = Conversation(team_id="T", channel_id="C", thread_ts="1.0", requester_id="U")
    session.add(conversation)
    session.flush()
    assert conversation.id is not None
    return conversation.id


def test_an_event_key_is_seen_once_even_when_two_take_it_in_at_once(engine: Engine) -> None:
    with session_scope(engine) as session:
        assert seen_events.mark_seen(session=session, keys=["msg:T:C:1.0"])
    with session_scope(engine) as session:
        assert not seen_events.mark_seen(session=session, keys=["msg:T:C:1.0"])
        assert not seen_events.mark_seen(session=session, keys=["msg:T:C:2.0", "msg:T:C:1.0"])

    results: list[bool] = []
    barrier = threading.Barrier(4)

    def take_in() -> None:
        barrier.wait()
        with session_scope(engine) as session:
            results.append(seen_events.mark_seen(session=session, keys=["msg:T:C:3.0"]))

    threads = [threading.Thread(target=take_in) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False, False, False, True]


def test_a_leased_row_is_closed_only_by_its_holder_while_it_runs(engine: Engine) -> None:
    with session_scope(engine) as session:
        pending_work.enqueue_turn(session=session, conversation_id=_conversation(session), new=True)
    work = queue.claim_turn(engine=engine, worker="w1", lease=LEASE)
    assert work is not None and work.id is not None

    with session_scope(engine) as session:
        assert not queue.finish(
            session=session, table=PendingWork, row_id=work.id, status=WorkStatus.DONE, worker="w2"
        )
        assert queue.finish(
            session=session, table=PendingWork, row_id=work.id, status=WorkStatus.DONE, worker="w1"
        )
        assert not queue.finish(  # closed already
            session=session, table=PendingWork, row_id=work.id, status=WorkStatus.DONE, worker="w1"
        )
        assert not queue.finish(
            session=session, table=PendingWork, row_id=work.id + 1, status=WorkStatus.DONE
        )
    with Session(engine) as session:
        row = session.get(PendingWork, work.id)
        assert row is not None
        assert row.status is WorkStatus.DONE
        assert row.finished_at is not None and row.lease_until is None


def test_an_outbox_row_is_claimed_by_one_reader_and_marked_posted(engine: Engine) -> None:
    with session_scope(engine) as session:
        conversation_id = _conversation(session)
        session.add(
            Message(
                conversation_id=conversation_id,
                role=MessageRole.ASSISTANT,
                text="hello",
                post_state=PostState.PENDING,
            )
        )
    with Session(engine, expire_on_commit=False) as session:
        (first_read,) = posting.outbox(session=session)
    with Session(engine, expire_on_commit=False) as session:
        (second_read,) = posting.outbox(session=session)

    claimed, earlier = posting.claim_post(
        engine=engine, row=first_read, worker="w1", stale_after=timedelta(minutes=2)
    )
    assert (claimed, earlier) == (True, None)
    # Read before that claim: the row has changed since, so this claim does not hold.
    assert posting.claim_post(
        engine=engine, row=second_read, worker="w2", stale_after=timedelta(minutes=2)
    ) == (False, None)

    assert first_read.id is not None
    with session_scope(engine) as session:
        posting.mark_posted(session=session, table=Message, row_id=first_read.id, ts="9.9")
    with Session(engine) as session:
        stored = session.get(Message, first_read.id)
        assert stored is not None
        assert (stored.post_state, stored.slack_ts) == (PostState.POSTED, "9.9")
        assert stored.posted_at is not None
        assert list(posting.outbox(session=session)) == []
