"""Pending turns: each claimed by exactly one worker, even with many claiming at once."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.store import crud
from bot.store.db import session_scope, upgrade
from bot.store.models import Conversation, PendingWork, WorkStatus

LEASE = timedelta(minutes=5)


def _queue_turns(engine: Engine, count: int) -> None:
    upgrade(engine)
    with session_scope(engine) as session:
        for number in range(count):
            conversation = Conversation(
                team_id="T", channel_id="C", thread_ts=f"{number}.0", requester_id="U"
            )
            session.add(conversation)
            session.flush()
            assert conversation.id is not None
            crud.enqueue_turn(session=session, conversation_id=conversation.id)


def _claim_all_concurrently(engine: Engine, workers: int) -> list[list[int]]:
    claimed: list[list[int]] = [[] for _ in range(workers)]
    barrier = threading.Barrier(workers)

    def worker(index: int) -> None:
        barrier.wait()
        while (work := crud.claim_work(engine=engine, worker=f"w{index}", lease=LEASE)) is not None:
            assert work.id is not None
            claimed[index].append(work.id)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return claimed


def _assert_each_claimed_once(engine: Engine, claimed: list[list[int]], total: int) -> None:
    every = [work_id for ids in claimed for work_id in ids]
    assert sorted(every) == list(range(1, total + 1))
    with Session(engine) as session:
        attempts = [session.get(PendingWork, i).attempts for i in range(1, total + 1)]  # type: ignore[union-attr]
    assert attempts == [1] * total


def test_sqlite_workers_claim_each_turn_once(sqlite_engine: Engine) -> None:
    _queue_turns(sqlite_engine, 40)
    claimed = _claim_all_concurrently(sqlite_engine, workers=4)
    _assert_each_claimed_once(sqlite_engine, claimed, 40)


@pytest.mark.postgres
def test_postgres_workers_claim_each_turn_once(postgres_engine: Engine) -> None:
    _queue_turns(postgres_engine, 120)
    claimed = _claim_all_concurrently(postgres_engine, workers=8)
    _assert_each_claimed_once(postgres_engine, claimed, 120)
    assert sum(1 for ids in claimed if ids) > 1  # the work really was shared


def test_an_expired_lease_is_taken_over(sqlite_engine: Engine) -> None:
    _queue_turns(sqlite_engine, 1)
    first = crud.claim_work(engine=sqlite_engine, worker="a", lease=LEASE)
    assert first is not None
    assert crud.claim_work(engine=sqlite_engine, worker="b", lease=LEASE) is None
    later = datetime.now(UTC) + LEASE + timedelta(seconds=1)
    second = crud.claim_work(engine=sqlite_engine, worker="b", lease=LEASE, now=later)
    assert second is not None and second.id == first.id
    assert second.leased_by == "b" and second.attempts == 2
    assert second.status is WorkStatus.RUNNING


def test_later_messages_join_the_queued_turn(sqlite_engine: Engine) -> None:
    _queue_turns(sqlite_engine, 1)
    with session_scope(sqlite_engine) as session:
        again = crud.enqueue_turn(session=session, conversation_id=1)
    assert again.id == 1
