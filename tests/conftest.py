"""Shared fixtures: clean settings and a working folder per test, and databases."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from bot.config import get_settings
from bot.store.db import make_engine, normalise_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_SETTINGS_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_CLI_XOXB",
    "SLACK_CLI_XAPP",
    "SLACK_API_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "DATABASE_URL",
    "AGENTS_DIR",
)


LOCAL_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pytest_configure(config: pytest.Config) -> None:
    """Run the PostgreSQL tests when a server answers on 5432 and no URL was given.

    Set AGENTDESK_TEST_POSTGRES_URL to another URL to use that server, or to an empty
    value to skip the PostgreSQL tests whatever answers.
    """
    if "AGENTDESK_TEST_POSTGRES_URL" in os.environ:
        return
    import psycopg

    try:
        psycopg.connect(
            make_url(LOCAL_POSTGRES_URL).set(drivername="postgresql").render_as_string(False),
            connect_timeout=2,
        ).close()
    except psycopg.Error:
        return
    os.environ["AGENTDESK_TEST_POSTGRES_URL"] = LOCAL_POSTGRES_URL


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's `.env` or environment, or writes into the project."""
    for name in _SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENTS_DIR", str(PROJECT_ROOT / "agents"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


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
