"""Shared fixtures: every test starts from clean settings and its own working folder."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import get_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_SETTINGS_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "DATABASE_URL",
    "AGENTS_DIR",
)


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
