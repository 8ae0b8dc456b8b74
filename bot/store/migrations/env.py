"""Alembic environment: metadata from SQLModel, the engine handed over by bot.store.db."""

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import bot.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from bot.store import oauth_tables
from bot.store.db import make_engine

config = context.config
# Any fixed number: the PostgreSQL advisory lock processes migrating the same database share.
MIGRATION_LOCK = 0x61676E74
# slack_sdk's OAuth stores keep their tables on their own MetaData.
target_metadata = [SQLModel.metadata, oauth_tables.metadata]


def run_migrations_offline() -> None:
    """Emit SQL without a database connection (`alembic upgrade --sql`)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate through the engine given by the caller, or one made from the URL."""
    engine: Engine = config.attributes.get("engine") or make_engine(
        config.get_main_option("sqlalchemy.url") or "sqlite:///agentdesk.db"
    )
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Processes starting together on one database (several `serve`, a
                # `scheduler`) migrate one after the other: the later ones find it done.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                )
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
