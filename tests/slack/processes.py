"""Helpers for tests that run agentdesk as its own process against the fakes."""

import os
import time
from pathlib import Path
from typing import Any

from tests.conftest import PROJECT_ROOT
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.slack_server import FakeSlack


def app_environment(
    *, slack: FakeSlack, model: FakeAnthropic, database: Path, **slack_settings: str
) -> dict[str, str]:
    """The environment of an agentdesk process pointed at the fakes and a SQLite file."""
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_API_URL": slack.api_url,
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": model.base_url,
        "DATABASE_URL": f"sqlite:///{database}",
        "AGENTS_DIR": str(PROJECT_ROOT / "agents"),
    }
    for name in ("SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        env.pop(name, None)
    env.update(slack_settings)
    return env


def mention_envelope(
    slack: FakeSlack, *, channel: str, text: str, user: str, event_id: str
) -> tuple[str, dict[str, Any]]:
    """A mention written in the fake channel, and the `app_mention` envelope Slack sends."""
    ts = slack.add_user_message(channel, f"<@UBOT> {text}", user)
    event = {
        "type": "app_mention",
        "user": user,
        "text": f"<@UBOT> {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
    }
    envelope = {
        "team_id": "T0001",
        "api_app_id": "A0001",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "event": event,
        "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}],
    }
    return ts, envelope
