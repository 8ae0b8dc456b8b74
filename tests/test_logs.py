"""Logs: JSON on request, the conversation id on every line of a turn, secrets never shown."""

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.observability.logs import (
    CONVERSATION_ID,
    ConversationFilter,
    MaskingFormatter,
    SecretMask,
    configure_logging,
)
from bot.store.db import head_revision, make_engine, upgrade
from tests.engine.test_conversation import inbound
from tests.fakes.anthropic_server import FakeAnthropic
from tests.support import RecordingPoster, desk_with, make_settings

SLACK_TOKEN = "xoxb-1234-5678-abcdefSECRET"
API_KEY = "sk-ant-api03-VERYSECRETKEY"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz"


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """The root logger writing JSON into a buffer, as `LOG_FORMAT=json` makes it."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging(
        log_format="json", secrets=[SLACK_TOKEN, API_KEY, SIGNING_SECRET], stream=buffer
    )
    yield buffer
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


def _records(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_the_conversation_of_the_turn(tmp_path: Path, logged: io.StringIO) -> None:
    with FakeAnthropic() as fake, desk_with(make_settings(tmp_path, fake)) as desk:
        intake = desk.take_in(
            inbound("I need OAuth login", ts="100.000", explicit_agent="backend-feature-developer")
        )
        for _ in range(3):  # the first try and both retries fail: the turn logs why
            fake.reply_error(500, "api_error", "Internal server error", {"retry-after-ms": "1"})
        logged.truncate(0)
        logged.seek(0)
        assert desk.work(poster=RecordingPoster()) == 1
    records = _records(logged)
    assert records, "the failing turn logged nothing"
    assert {r["conversation_id"] for r in records} == {intake.conversation_id}
    assert any("model call failed" in str(r["message"]) for r in records)
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert CONVERSATION_ID.get() is None  # nothing leaks past the turn


def test_secrets_are_masked_in_messages_arguments_and_tracebacks(logged: io.StringIO) -> None:
    log = logging.getLogger("bot.test")
    log.info("token %s and key %s", SLACK_TOKEN, API_KEY)
    log.warning(f"signing secret {SIGNING_SECRET} in an f-string")
    log.info("an unknown token shaped like one: xoxb-999-888-other and xapp-1-A0-xyz")
    try:
        raise RuntimeError(f"auth failed for {SLACK_TOKEN}")
    except RuntimeError:
        log.exception("call failed")
    output = logged.getvalue()
    for secret in (SLACK_TOKEN, API_KEY, SIGNING_SECRET, "xoxb-999-888-other", "xapp-1-A0-xyz"):
        assert secret not in output
    assert output.count("[secret]") >= 6
    assert "auth failed for [secret]" in output


def test_text_lines_name_the_conversation() -> None:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(
        MaskingFormatter(logging.Formatter("%(message)s%(conversation)s"), SecretMask())
    )
    handler.addFilter(ConversationFilter())
    log = logging.getLogger("bot.test.text")
    log.addHandler(handler)
    try:
        token = CONVERSATION_ID.set(42)
        log.warning("inside")
        CONVERSATION_ID.reset(token)
        log.warning("outside")
    finally:
        log.removeHandler(handler)
    assert buffer.getvalue().splitlines() == ["inside [conversation 42]", "outside"]


def _migration_lines(records: list[dict[str, object]]) -> list[dict[str, object]]:
    """What alembic and the migrating code logged."""
    return [r for r in records if str(r["logger"]).startswith(("alembic", "bot.store.db"))]


def test_a_start_logs_one_line_naming_what_was_migrated(
    tmp_path: Path, logged: io.StringIO
) -> None:
    with FakeAnthropic() as fake, desk_with(make_settings(tmp_path, fake, migrated=False)):
        pass  # a fresh start: every migration is applied
    head = head_revision()
    [line] = _migration_lines(_records(logged))
    assert line["level"] == "INFO"
    assert line["logger"] == "bot.store.db"
    migrations = int(str(head))
    assert line["message"] == (
        f"database migrated from an empty schema to {head} ({migrations} migrations)"
    )
    assert "Running upgrade" not in logged.getvalue()

    logged.truncate(0)
    logged.seek(0)
    with FakeAnthropic() as fake, desk_with(make_settings(tmp_path, fake)):
        pass  # the next start finds nothing to do
    [line] = _migration_lines(_records(logged))
    assert (line["level"], line["message"]) == ("INFO", f"database schema is current ({head})")


def test_a_partial_upgrade_names_both_revisions_and_alembics_lines_are_debug(
    tmp_path: Path, logged: io.StringIO
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'partial.db'}")
    try:
        upgrade(engine, "0003")
        logged.truncate(0)
        logged.seek(0)
        logging.getLogger().setLevel(logging.DEBUG)
        upgrade(engine)
    finally:
        engine.dispose()
    head = str(head_revision())
    records = _records(logged)
    info = [r for r in _migration_lines(records) if r["level"] == "INFO"]
    assert [r["message"] for r in info] == [
        f"database migrated from 0003 to {head} ({int(head) - 3} migrations)"
    ]
    running = [r for r in records if str(r["message"]).startswith("Running upgrade")]
    assert [r["level"] for r in running] == ["DEBUG"] * (int(head) - 3)
    assert str(running[0]["message"]).startswith("Running upgrade 0003 -> 0004")
