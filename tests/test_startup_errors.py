"""Every set-up mistake a new user makes gives one line, a non-zero exit and no traceback.

Each test runs `agentdesk` as its own process, as a person would (`python -m bot`).
"""

import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.config import Settings
from tests.conftest import PROJECT_ROOT
from tests.fakes.slack_server import FakeSlack

pytestmark = pytest.mark.slow  # starts agentdesk as its own process


_SETTINGS = {name.upper() for name in Settings.model_fields} | {"SLACK_CLI_XOXB", "SLACK_CLI_XAPP"}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def agentdesk(*args: str, cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """Run the command line with only the given settings (no `.env`: cwd is a fresh folder)."""
    env = {k: v for k, v in os.environ.items() if k not in _SETTINGS}
    env.update({"AGENTS_DIR": str(PROJECT_ROOT / "agents"), "COLUMNS": "200", **settings})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def assert_one_line(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Non-zero exit, no traceback anywhere, and one `agentdesk: …` line on stderr."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("agentdesk: "), output
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.mark.parametrize("command", [["run"], ["serve"]])
def test_a_token_slack_refuses(tmp_path: Path, slack: FakeSlack, command: list[str]) -> None:
    result = agentdesk(
        *command,
        cwd=tmp_path,
        SLACK_BOT_TOKEN="xoxb-revoked",
        SLACK_APP_TOKEN="xapp-1-test",
        SLACK_SIGNING_SECRET="secret",
        SLACK_API_URL=slack.api_url,
    )
    line = assert_one_line(result, "invalid_auth", "SLACK_BOT_TOKEN")
    assert "xoxb-revoked" not in line


@pytest.mark.parametrize("command", [["run"], ["serve"]])
def test_slack_unreachable(tmp_path: Path, command: list[str]) -> None:
    result = agentdesk(
        *command,
        cwd=tmp_path,
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_APP_TOKEN="xapp-1-test",
        SLACK_SIGNING_SECRET="secret",
        SLACK_API_URL=f"http://127.0.0.1:{_closed_port()}/api/",
    )
    assert_one_line(result, "could not reach Slack", "network")


@pytest.mark.parametrize(
    "command", [["db", "status"], ["db", "upgrade"], ["conversations", "list"], ["run"]]
)
def test_postgresql_down(tmp_path: Path, command: list[str]) -> None:
    url = f"postgresql+psycopg://agentdesk@127.0.0.1:{_closed_port()}/agentdesk"
    result = agentdesk(*command, cwd=tmp_path, DATABASE_URL=url)
    assert_one_line(result, "can't connect", "Start the database server")


@pytest.mark.postgres
@pytest.mark.parametrize("command", [["db", "status"], ["db", "upgrade"], ["run"]])
def test_postgresql_database_missing(tmp_path: Path, command: list[str]) -> None:
    server = os.environ.get("AGENTDESK_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("AGENTDESK_TEST_POSTGRES_URL is not set (no PostgreSQL for this run)")
    url = make_url(server).set(database="agentdesk_no_such_database")
    result = agentdesk(*command, cwd=tmp_path, DATABASE_URL=url.render_as_string(False))
    assert_one_line(result, "does not exist", "Create it")


@pytest.mark.parametrize(
    "command", [["doctor"], ["run"], ["db", "status"], ["conversations", "list"], ["scheduler"]]
)
def test_not_a_url(tmp_path: Path, command: list[str]) -> None:
    result = agentdesk(*command, cwd=tmp_path, DATABASE_URL="not a url")
    if command == ["doctor"]:  # the doctor reports it among its checks, on one line
        assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
        assert "FAIL Database: DATABASE_URL 'not a url' is not a database URL" in result.stdout
        return
    assert_one_line(result, "is not a database URL", "sqlite:///")


@pytest.mark.parametrize("command", [["db", "status"], ["db", "upgrade"]])
def test_mysql_url(tmp_path: Path, command: list[str]) -> None:
    result = agentdesk(*command, cwd=tmp_path, DATABASE_URL="mysql://user:pw@127.0.0.1/db")
    assert_one_line(result, "mysql", "not support", "postgresql+psycopg://")


@pytest.mark.parametrize("command", [["db", "status"], ["run"]])
def test_a_percent_in_the_password_reaches_the_server(tmp_path: Path, command: list[str]) -> None:
    """Alembic's ConfigParser no longer chokes on `%`: the error is about the server."""
    url = f"postgresql+psycopg://agentdesk:50%25off@127.0.0.1:{_closed_port()}/agentdesk"
    line = assert_one_line(agentdesk(*command, cwd=tmp_path, DATABASE_URL=url), "can't connect")
    assert "50%off" not in line and "50%25off" not in line


@pytest.mark.postgres
def test_a_percent_in_the_password_migrates(tmp_path: Path) -> None:
    server = os.environ.get("AGENTDESK_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("AGENTDESK_TEST_POSTGRES_URL is not set (no PostgreSQL for this run)")
    url = make_url(server).set(password="50%off")  # trust auth: the password is not checked
    result = agentdesk(
        "db", "status", cwd=tmp_path, DATABASE_URL=url.render_as_string(hide_password=False)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "revision" in result.stdout


def test_a_sqlite_file_in_a_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "folder"
    result = agentdesk("db", "upgrade", cwd=tmp_path, DATABASE_URL=f"sqlite:///{missing}/x.db")
    assert_one_line(result, "does not exist", "mkdir -p")
    assert not missing.parent.exists()


@pytest.mark.parametrize("command", [["run"], ["agents", "list"], ["agents", "check"]])
def test_an_agents_folder_that_does_not_exist(tmp_path: Path, command: list[str]) -> None:
    result = agentdesk(*command, cwd=tmp_path, AGENTS_DIR="/nope")
    assert_one_line(result, "/nope", "AGENTS_DIR")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = agentdesk("--debug", "db", "status", cwd=tmp_path, DATABASE_URL="not a url")
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("agentdesk: Database:")


def test_a_fresh_start_reports_no_problems(tmp_path: Path) -> None:
    """The seed agent's tolerant reading is a warning: `run` does not call it a problem."""
    result = agentdesk("run", cwd=tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'a.db'}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "agents loaded from" in result.stdout
    assert "problem" not in result.stdout and "error" not in result.stdout


def test_an_unreadable_setting(tmp_path: Path) -> None:
    result = agentdesk("doctor", cwd=tmp_path, MODEL_PRICES="sonnet=cheap")
    assert_one_line(result, "MODEL_PRICES", ".env")


@pytest.mark.parametrize("command", [["conversations", "list"], ["usage"]])
def test_a_read_command_does_not_migrate_a_database_behind(
    tmp_path: Path, command: list[str]
) -> None:
    database = tmp_path / "a.db"
    sqlite3.connect(database).close()  # an empty database: no migration applied yet
    result = agentdesk(*command, cwd=tmp_path, DATABASE_URL=f"sqlite:///{database}")
    assert_one_line(result, "revision none", "agentdesk db upgrade")
    with sqlite3.connect(database) as connection:
        tables = connection.execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == []
