"""Pending turns: each claimed by exactly one worker, even with many claiming at once."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.engine.lease_keeper import LeaseKeeper
from bot.store import inbound_events, pending_work, queue, run_records
from bot.store.db import session_scope, upgrade
from bot.store.models import (
    Conversation,
    ImplementationRun,
    ImplementationStatus,
    InboundEvent,
    LeaseState,
    PendingWork,
    WorkStatus,
)

LEASE = timedelta(minutes=5)


def _conversations(session: Session, count: int) -> list[int]:
    """`count` new conversations of one person in one channel; their ids."""
    ids = []
    for number in range(count):
        conversation = Conversation(
            team_id="T", channel_id="C", thread_ts=f"{number}.0", requester_id="U"
        )
        session.add(conversation)
        session.flush()
        assert conversation.id is not None
        ids.append(conversation.id)
    return ids


def _queue_turns(engine: Engine, count: int) -> None:
    upgrade(engine)
    with session_scope(engine) as session:
        for conversation_id in _conversations(session, count):
            pending_work.enqueue_turn(session=session, conversation_id=conversation_id)


def _claim_all_concurrently(engine: Engine, workers: int) -> list[list[int]]:
    claimed: list[list[int]] = [[] for _ in range(workers)]
    barrier = threading.Barrier(workers)

    def worker(index: int) -> None:
        barrier.wait()
        while (
            work := queue.claim_turn(engine=engine, worker=f"w{index}", lease=LEASE)
        ) is not None:
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
    first = queue.claim_turn(engine=sqlite_engine, worker="a", lease=LEASE)
    assert first is not None
    assert queue.claim_turn(engine=sqlite_engine, worker="b", lease=LEASE) is None
    later = datetime.now(UTC) + LEASE + timedelta(seconds=1)
    second = queue.claim_turn(engine=sqlite_engine, worker="b", lease=LEASE, now=later)
    assert second is not None and second.id == first.id
    assert second.leased_by == "b" and second.attempts == 2
    assert second.status is WorkStatus.RUNNING


def test_later_messages_join_the_queued_turn(sqlite_engine: Engine) -> None:
    _queue_turns(sqlite_engine, 1)
    with session_scope(sqlite_engine) as session:
        again = pending_work.enqueue_turn(session=session, conversation_id=1)
    assert again.id == 1


def _queue_for(engine: Engine, people: list[tuple[str, str]]) -> None:
    """One queued turn per (requester, channel), in this order."""
    upgrade(engine)
    with session_scope(engine) as session:
        for number, (user, channel) in enumerate(people):
            conversation = Conversation(
                team_id="T", channel_id=channel, thread_ts=f"{number}.0", requester_id=user
            )
            session.add(conversation)
            session.flush()
            assert conversation.id is not None
            pending_work.enqueue_turn(session=session, conversation_id=conversation.id)


def _requesters(engine: Engine, fair: queue.FairShare, count: int) -> list[str]:
    taken = []
    for _ in range(count):
        work = queue.claim_turn(engine=engine, worker="w", lease=LEASE, fair=fair)
        if work is None:
            break
        with Session(engine) as session:
            conversation = session.get(Conversation, work.conversation_id)
            assert conversation is not None
            taken.append(f"{conversation.requester_id}/{conversation.channel_id}")
    return taken


def test_one_person_cannot_take_every_slot(sqlite_engine: Engine) -> None:
    _queue_for(sqlite_engine, [("U1", "C1")] * 5 + [("U2", "C1"), ("U3", "C2")])
    taken = _requesters(sqlite_engine, queue.FairShare(per_user=2), 10)
    assert taken == ["U1/C1", "U1/C1", "U2/C1", "U3/C2"]


def test_one_channel_cannot_take_every_slot(sqlite_engine: Engine) -> None:
    _queue_for(sqlite_engine, [(f"U{n}", "BUSY") for n in range(5)] + [("U9", "QUIET")])
    taken = _requesters(sqlite_engine, queue.FairShare(per_channel=3), 10)
    assert taken == ["U0/BUSY", "U1/BUSY", "U2/BUSY", "U9/QUIET"]


def test_handed_back_turns_are_claimable_at_once_without_losing_an_attempt(
    sqlite_engine: Engine,
) -> None:
    _queue_turns(sqlite_engine, 2)
    assert queue.claim_turn(engine=sqlite_engine, worker="stopping", lease=LEASE) is not None
    assert queue.hand_back(engine=sqlite_engine, table=PendingWork, worker="stopping") == 1
    again = queue.claim_turn(engine=sqlite_engine, worker="next", lease=LEASE)
    assert again is not None and again.id == 1 and again.attempts == 1
    with session_scope(sqlite_engine) as session:  # a late write by the old holder is refused
        assert not queue.finish(
            session=session, table=PendingWork, row_id=1, status=WorkStatus.DONE, worker="stopping"
        )


def test_turns_of_dead_processes_are_reclaimed_and_live_ones_are_not(sqlite_engine: Engine) -> None:
    _queue_turns(sqlite_engine, 2)
    assert queue.claim_turn(engine=sqlite_engine, worker="dead:1", lease=LEASE) is not None
    assert queue.claim_turn(engine=sqlite_engine, worker="alive:2", lease=LEASE) is not None
    reclaimed = queue.reclaim_dead(
        engine=sqlite_engine, table=PendingWork, is_dead=lambda holder: holder.startswith("dead")
    )
    assert reclaimed == 1
    again = queue.claim_turn(engine=sqlite_engine, worker="new", lease=LEASE)
    assert again is not None and again.id == 1
    assert queue.claim_turn(engine=sqlite_engine, worker="new", lease=LEASE) is None


def test_a_renewed_lease_is_not_taken_over(sqlite_engine: Engine) -> None:
    _queue_turns(sqlite_engine, 1)
    short = timedelta(seconds=1)
    assert queue.claim_turn(engine=sqlite_engine, worker="a", lease=short) is not None
    assert queue.renew(
        engine=sqlite_engine, table=PendingWork, worker="a", row_ids=[1], lease=LEASE
    )
    later = datetime.now(UTC) + timedelta(seconds=30)
    assert queue.claim_turn(engine=sqlite_engine, worker="b", lease=LEASE, now=later) is None


def test_a_batch_claim_counts_its_own_turns_against_the_caps(sqlite_engine: Engine) -> None:
    _queue_for(
        sqlite_engine,
        [("U1", "C1")] * 4 + [("U2", "C1"), ("U3", "C1"), ("U4", "C2"), ("U5", "C2")],
    )
    fair = queue.FairShare(per_user=2, per_channel=3)
    taken = queue.claim_turns(engine=sqlite_engine, worker="w", lease=LEASE, fair=fair, limit=10)
    with Session(sqlite_engine) as session:
        owners = [
            (c.requester_id, c.channel_id)
            for c in (session.get(Conversation, work.conversation_id) for work in taken)
            if c is not None
        ]
    assert owners == [("U1", "C1"), ("U1", "C1"), ("U2", "C1"), ("U4", "C2"), ("U5", "C2")]
    assert {work.leased_by for work in taken} == {"w"}
    assert [work.attempts for work in taken] == [1] * 5
    # The next batch sees them running: only what fits the caps is left (nothing here).
    assert (
        queue.claim_turns(engine=sqlite_engine, worker="w", lease=LEASE, fair=fair, limit=10) == []
    )


def test_a_batch_claim_respects_its_limit(sqlite_engine: Engine) -> None:
    _queue_turns(sqlite_engine, 5)
    first = queue.claim_turns(engine=sqlite_engine, worker="a", lease=LEASE, limit=3)
    rest = queue.claim_turns(engine=sqlite_engine, worker="b", lease=LEASE, limit=3)
    assert [w.id for w in first] == [1, 2, 3] and [w.id for w in rest] == [4, 5]


def test_a_batch_of_stored_requests_never_holds_two_of_one_thread(sqlite_engine: Engine) -> None:
    upgrade(sqlite_engine)
    for number, thread in enumerate(["T1", "T1", "T2", "", ""]):
        inbound_events.store_inbound(
            engine=sqlite_engine,
            event=InboundEvent(kind="event", key=f"k{number}", body={}, thread_key=thread),
        )
    taken = queue.claim_inbounds(engine=sqlite_engine, worker="w", lease=LEASE, limit=10)
    assert [row.key for row in taken] == ["k0", "k2", "k3", "k4"]
    assert queue.claim_inbounds(engine=sqlite_engine, worker="w", lease=LEASE, limit=10) == []


def _queue_runs(engine: Engine, conversations: int, per_conversation: int) -> None:
    upgrade(engine)
    with session_scope(engine) as session:
        for conversation_id in _conversations(session, conversations):
            for _ in range(per_conversation):
                run_records.add_implementation_run(
                    session=session,
                    run=ImplementationRun(
                        conversation_id=conversation_id, repo="api", branch="b", requested_by="U"
                    ),
                )


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_implementation_runs_share_the_lease_statements(
    request: pytest.FixtureRequest, database: str
) -> None:
    engine: Engine = request.getfixturevalue(f"{database}_engine")
    _queue_runs(engine, conversations=3, per_conversation=2)
    taken: list[list[int]] = [[], []]
    barrier = threading.Barrier(2)

    def worker(index: int) -> None:
        barrier.wait()
        while (
            run := queue.claim_run(engine=engine, worker=f"h:1:w{index}", lease=LEASE)
        ) is not None:
            assert run.id is not None and run.started_at is not None
            taken[index].append(run.id)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # one run per conversation at a time: the second of each waits for the first to end
    assert sorted(taken[0] + taken[1]) == [1, 3, 5]
    holder = "h:1:w0" if 1 in taken[0] else "h:1:w1"
    other = "h:1:w1" if holder == "h:1:w0" else "h:1:w0"
    assert (
        queue.renew(engine=engine, table=ImplementationRun, worker=other, row_ids=[1], lease=LEASE)
        == 0
    )
    assert (
        queue.renew(engine=engine, table=ImplementationRun, worker=holder, row_ids=[1], lease=LEASE)
        == 1
    )
    assert queue.hand_back(engine=engine, table=ImplementationRun, worker=holder, row_id=1) == 1
    again = queue.claim_run(engine=engine, worker="h:2:w", lease=LEASE)
    assert again is not None and again.id == 1 and again.attempts == 1  # a hand-back is free
    dead = queue.reclaim_dead(
        engine=engine, table=ImplementationRun, is_dead=lambda holder: holder == "h:2:w"
    )
    assert dead == 1
    with Session(engine) as session:
        run = session.get(ImplementationRun, 1)
        assert run is not None and run.status is ImplementationStatus.QUEUED
        assert run.leased_by is None and run.lease_until is None


def test_the_lease_states_are_spelled_alike_by_every_leased_table() -> None:
    for state in LeaseState:
        assert WorkStatus(state.value) == state and ImplementationStatus(state.value) == state


def test_the_lease_keeper_renews_only_what_is_held(sqlite_engine: Engine) -> None:
    _queue_turns(sqlite_engine, 2)
    short = timedelta(seconds=30)
    first = queue.claim_turn(engine=sqlite_engine, worker="w1", lease=short)
    second = queue.claim_turn(engine=sqlite_engine, worker="w1", lease=short)
    assert first is not None and second is not None
    assert first.id is not None and second.id is not None
    keeper = LeaseKeeper(engine=sqlite_engine, worker="w1", lease=LEASE, name="test-leases")
    keeper.hold(PendingWork, first.id)
    keeper.hold(PendingWork, second.id)
    keeper.drop(PendingWork, second.id)
    assert keeper.held(PendingWork) == 1 and keeper.held(InboundEvent) == 0
    keeper.renew()
    with Session(sqlite_engine) as session:
        renewed, left = session.get(PendingWork, first.id), session.get(PendingWork, second.id)
        assert renewed is not None and left is not None
        assert renewed.lease_until is not None and left.lease_until is not None
        assert renewed.lease_until - left.lease_until > timedelta(minutes=4)
