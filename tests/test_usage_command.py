"""`agentdesk usage` and the cost in `conversations list/show`, from stored token counts."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.cli.main import app
from bot.cli.usage import parse_since
from bot.config import get_settings
from tests.engine.test_conversation import inbound
from tests.fakes.anthropic_server import FakeAnthropic
from tests.support import RecordingPoster, desk_with, make_settings

runner = CliRunner(env={"COLUMNS": "200"})
NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
USAGE = {
    "input_tokens": 1_000_000,
    "output_tokens": 0,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
}


@pytest.fixture
def worked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two conversations: the backend agent in C1 for U1 (sonnet), the frontend one in C2 for
    U2 (haiku), a million input tokens each."""
    with FakeAnthropic() as fake:
        settings = make_settings(tmp_path, fake)
        with desk_with(settings) as desk:
            for channel, user, agent in (
                ("C1", "U1", "backend-feature-developer"),
                ("C2", "U2", "frontend-feature-developer"),
            ):
                desk.take_in(
                    inbound(
                        "I need a thing",
                        ts="100.000",
                        channel_id=channel,
                        user=user,
                        explicit_agent=agent,
                        event_keys=(f"msg:T1:{channel}:100.000",),
                    )
                )
                fake.reply_text("On it.", usage=USAGE)
                assert desk.work(poster=RecordingPoster()) == 1
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("AGENTS_DIR", str(settings.agents_dir))
    get_settings.cache_clear()


@pytest.mark.usefixtures("worked")
@pytest.mark.parametrize(
    ("by", "sonnet_key", "haiku_key"),
    [
        ("agent", "backend-feature-developer", "frontend-feature-developer"),
        ("channel", "C1", "C2"),
        ("user", "U1", "U2"),
    ],
)
def test_usage_by_each_grouping(by: str, sonnet_key: str, haiku_key: str) -> None:
    result = runner.invoke(app, ["usage", "--by", by, "--since", "all"])
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if "│" in line}
    assert "$3.00" in rows[sonnet_key]  # sonnet: $3 per million input tokens
    assert "$1.00" in rows[haiku_key]  # haiku: $1
    assert "$4.00" in rows["total"]
    assert "1,000,000" in rows[sonnet_key]


@pytest.mark.usefixtures("worked")
def test_prices_come_from_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_PRICES", "claude-sonnet=10/50")
    get_settings.cache_clear()
    result = runner.invoke(app, ["usage"])
    assert result.exit_code == 0, result.output
    assert "$11.00" in result.output  # $10 (sonnet, overridden) + $1 (haiku)


@pytest.mark.usefixtures("worked")
def test_conversations_show_their_cost() -> None:
    listed = runner.invoke(app, ["conversations", "list"])
    assert listed.exit_code == 0, listed.output
    assert "$3.00" in listed.output and "$1.00" in listed.output
    shown = runner.invoke(app, ["conversations", "show", "1"])
    assert "cost $3.0000" in shown.output


def test_since_accepts_dates_spans_and_all() -> None:
    assert parse_since(None, now=NOW) == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_since("7d", now=NOW) == datetime(2026, 11, 19, 15, 0, tzinfo=UTC)
    assert parse_since("12h", now=NOW) == datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    assert parse_since("2026-10-01", now=NOW) == datetime(2026, 10, 1, tzinfo=UTC)
    assert parse_since("all", now=NOW) is None
    with pytest.raises(typer.BadParameter):
        parse_since("last tuesday", now=NOW)
