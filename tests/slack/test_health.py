"""`GET /readyz`: ready when the database answers and is migrated and agents are loaded."""

import socket
from pathlib import Path

from bot.runtime.build import build_desk
from bot.runtime.health import readiness
from bot.store.db import head_revision, make_engine
from tests.slack.conftest import SlackHarness
from tests.support import make_settings


def test_the_running_app_is_ready(harness: SlackHarness) -> None:
    response = harness.get("/readyz")
    assert response.status == 200
    assert response.json() == {
        "ready": True,
        "database": "ok",
        "agents": "ok",
        "agents_loaded": 2,
    }
    assert harness.get("/healthz").status == 200


def test_not_ready_before_migrations_or_without_agents(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, migrated=False)
    unmigrated = build_desk(settings, migrate=False)
    try:
        state = readiness(unmigrated, head=head_revision())
        assert state["ready"] is False and state["database"].startswith("at None, needs")
    finally:
        unmigrated.engine.dispose()
    empty = tmp_path / "no-agents"
    empty.mkdir()
    desk = build_desk(make_settings(tmp_path, agents_dir=empty))
    try:
        state = readiness(desk, head=head_revision())
        assert state["ready"] is False
        assert state["database"] == "ok" and state["agents"] == "none loaded"
    finally:
        desk.engine.dispose()


def test_not_ready_when_the_database_does_not_answer(tmp_path: Path) -> None:
    desk = build_desk(make_settings(tmp_path))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    desk.engine.dispose()
    desk.engine = make_engine(f"postgresql+psycopg://agentdesk@127.0.0.1:{closed_port}/x")
    state = readiness(desk, head=head_revision())
    assert state["ready"] is False
    assert state["database"] == "unreachable: OperationalError"
