"""A channel's spend this month: read through ix_conversation_channel_updated, and counting
every reply of the month however old its conversation is."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.accounting.tokens import TokenUsage
from bot.engine.budget import month_start
from bot.store import conversation_records, message_records
from bot.store.db import session_scope, upgrade
from bot.store.models import Conversation, Message, MessageKind
from bot.store.usage_reports import UsageGrouping, usage_totals

LAST_YEAR = datetime.now(UTC) - timedelta(days=365)


def _conversation(session: Session, *, channel: str, thread: str) -> int:
    conversation = conversation_records.create_conversation(
        session=session,
        conversation=Conversation(
            team_id="T1", channel_id=channel, thread_ts=thread, requester_id="U1"
        ),
    )
    assert conversation.id is not None
    return conversation.id


def _age(engine: Engine, conversation_id: int) -> None:
    """Make a conversation and its messages a year old."""
    with engine.begin() as connection:
        connection.execute(
            sa.update(Conversation)
            .where(sa.column("id") == conversation_id)
            .values(created_at=LAST_YEAR, updated_at=LAST_YEAR, last_activity_at=LAST_YEAR)
        )
        connection.execute(
            sa.update(Message)
            .where(sa.column("conversation_id") == conversation_id)
            .values(created_at=LAST_YEAR)
        )


def _reply(session: Session, conversation_id: int) -> None:
    message_records.add_assistant_message(
        session=session,
        conversation_id=conversation_id,
        kind=MessageKind.TEXT,
        text="Done.",
        model="claude-sonnet-4-5",
        usage=TokenUsage(input_tokens=1000, output_tokens=100),
    )


def test_a_reply_this_month_in_a_year_old_conversation_counts(sqlite_engine: Engine) -> None:
    upgrade(sqlite_engine)
    with session_scope(sqlite_engine) as session:
        old = _conversation(session, channel="C1", thread="1.0")
        quiet = _conversation(session, channel="C1", thread="2.0")
        _reply(session, old)
        _reply(session, quiet)
    _age(sqlite_engine, old)
    _age(sqlite_engine, quiet)
    with session_scope(sqlite_engine) as session:
        _reply(session, old)  # the old thread wakes up this month

    with Session(sqlite_engine) as session:
        (total,) = usage_totals(
            session=session,
            by=UsageGrouping.CHANNEL,
            since=month_start(),
            team_id="T1",
            channel_id="C1",
        )
    assert total.conversations == 1 and total.turns == 1
    assert total.usage.input_tokens == 1000


@pytest.mark.postgres
def test_the_channel_spend_query_skips_the_channels_older_conversations(
    postgres_engine: Engine,
) -> None:
    upgrade(postgres_engine)
    with postgres_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO conversation (team_id, channel_id, thread_ts, source, status,"
                " requester_id, title, created_at, updated_at, last_activity_at,"
                " reminders_sent, input_tokens, output_tokens, cache_read_tokens,"
                " cache_write_tokens)"
                " SELECT 'T1', 'C1', i::text || '.0', 'mention', 'closed', 'U1', '',"
                " :old, :old, :old, 0, 0, 0, 0, 0 FROM generate_series(1, 5000) AS i"
            ),
            {"old": LAST_YEAR},
        )
        connection.execute(text("ANALYZE conversation"))
    statements: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        statements.append((args[2], args[3]))

    sa.event.listen(postgres_engine, "before_cursor_execute", capture)
    try:
        with Session(postgres_engine) as session:
            usage_totals(
                session=session,
                by=UsageGrouping.CHANNEL,
                since=month_start(),
                team_id="T1",
                channel_id="C1",
            )
    finally:
        sa.event.remove(postgres_engine, "before_cursor_execute", capture)
    ((statement, parameters),) = statements
    with postgres_engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("EXPLAIN " + statement, parameters)
        plan = "\n".join(str(row[0]) for row in cursor.fetchall())
    assert "ix_conversation_channel_updated" in plan, plan
