"""Databases for store tests: a SQLite file, and a fresh PostgreSQL database when available."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from bot.store.db import make_engine, normalise_url


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    """A new, empty PostgreSQL database, dropped afterwards."""
    url = os.environ.get("AGENTDESK_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("AGENTDESK_TEST_POSTGRES_URL is not set (no PostgreSQL for this run)")
    admin = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    name = f"agentdesk_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(normalise_url(url)).set(database=name).render_as_string(False))
    yield engine
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
