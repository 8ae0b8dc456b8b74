"""Every setting is documented in `.env.sample` and docs/operations.md, and nothing else is."""

import re

from bot.config import Settings
from tests.conftest import PROJECT_ROOT

SETTINGS = {name.upper() for name in Settings.model_fields}


def test_env_sample_lists_exactly_the_settings() -> None:
    text = (PROJECT_ROOT / ".env.sample").read_text(encoding="utf-8")
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    assert listed == SETTINGS


def test_the_operations_page_documents_every_setting() -> None:
    text = (PROJECT_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    missing = sorted(name for name in SETTINGS if f"`{name}`" not in text)
    assert missing == []


def test_every_setting_has_a_description() -> None:
    assert [n for n, f in Settings.model_fields.items() if not f.description] == []


def test_secrets_are_not_printed() -> None:
    settings = Settings(
        _env_file=None, slack_bot_token="xoxb-secret", anthropic_api_key="sk-secret"
    )  # type: ignore[call-arg]
    assert "xoxb-secret" not in repr(settings) and "sk-secret" not in str(settings)
