"""The migrations build the schema the models describe, on SQLite and PostgreSQL."""

import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import bot.store.models  # noqa: F401
from bot.store import oauth_tables
from bot.store.db import current_revision, upgrade

TABLES = {
    "conversation",
    "message",
    "pending_work",
    "seen_event",
    "routing_record",
    "channel_setting",
    "apscheduler_jobs",  # the scheduler's job store: made by a migration, not at run time
    "slack_installations",  # slack_sdk's OAuth stores
    "slack_bots",
    "slack_oauth_states",
}


def _check(engine: Engine) -> None:
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) is not None
    assert set(inspect(engine).get_table_names()) >= TABLES
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, [SQLModel.metadata, oauth_tables.metadata]) == []
    upgrade(engine)  # a second run is a no-op


def test_migrations_from_an_empty_sqlite_file(sqlite_engine: Engine) -> None:
    _check(sqlite_engine)


@pytest.mark.postgres
def test_migrations_on_postgresql(postgres_engine: Engine) -> None:
    _check(postgres_engine)


@pytest.mark.postgres
def test_processes_starting_together_on_an_empty_postgresql_database_all_migrate(
    postgres_engine: Engine,
) -> None:
    url = postgres_engine.url.render_as_string(hide_password=False)
    script = "import sys; from bot.store.db import make_engine, upgrade; upgrade(make_engine(sys.argv[1]))"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=60)[0].decode() for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, outputs
    assert current_revision(postgres_engine) is not None


def test_conversation_lookups_are_indexed(sqlite_engine: Engine) -> None:
    upgrade(sqlite_engine)
    inspector = inspect(sqlite_engine)
    conversation = {tuple(i["column_names"]) for i in inspector.get_indexes("conversation")}
    assert ("status", "last_activity_at") in conversation
    unique = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("conversation")}
    assert ("team_id", "channel_id", "thread_ts") in unique
    work = {tuple(i["column_names"]) for i in inspector.get_indexes("pending_work")}
    assert ("status", "available_at") in work


def test_the_job_store_finds_the_table_the_migrations_made(sqlite_engine: Engine) -> None:
    upgrade(sqlite_engine)
    store = SQLAlchemyJobStore(engine=sqlite_engine, tablename="apscheduler_jobs")
    with sqlite_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [
            difference
            for difference in compare_metadata(context, store.jobs_t.metadata)
            if "apscheduler_jobs" in str(difference)
        ]
    assert differences == []
