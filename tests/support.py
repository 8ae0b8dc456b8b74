"""Builders shared by the engine, shell and Slack tests."""

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlmodel import Session

from bot.config import Settings
from bot.engine.desk import Desk
from bot.engine.views import ChannelPost, Reply, ThreadRef
from bot.runtime.build import build_desk
from bot.store.db import make_engine, upgrade
from bot.store.models import Conversation
from tests.conftest import PROJECT_ROOT
from tests.fakes.anthropic_server import FakeAnthropic

FRONTEND_AGENT = """\
---
name: frontend-feature-developer
description: Use this agent for user-facing screens, pages, buttons, layout and components. \
<example>Context: A new page. user: 'Add a settings page with a dark mode toggle' \
assistant: 'I will use the frontend-feature-developer agent' \
<commentary>UI work.</commentary></example>
model: haiku
---
You build user interfaces.
"""


# A clarifying-questions call and a plan, as the fake model scripts them.
QUESTIONS = {
    "intro": "A few questions before I design this:",
    "questions": [
        {"question": "Which identity providers?", "choices": ["Google", "GitHub", "Both"]},
        {"question": "Do existing password accounts need linking?"},
    ],
}
# The router's model step sending a request to the customer's agent.
ROUTED_TO_BACKEND = {
    "reasoning": "Login with OAuth is server-side work.",
    "agent": "backend-feature-developer",
    "confident": True,
}
PLAN = {
    "title": "OAuth login",
    "summary": "Add Google and GitHub sign-in beside passwords, linking by verified email.",
    "document": "## Design\n\nUse authlib.\n\n## Steps\n\n1. Add the callback route.",
}


_TEMPLATE_DATABASE: list[Path] = []  # the session's migrated SQLite file, made on first use


def migrated_sqlite(path: Path) -> None:
    """Put a database migrated to head at `path`: a copy of one migrated once per session
    (a migration costs a quarter of a second; a copy, a millisecond)."""
    if not _TEMPLATE_DATABASE:
        folder = Path(tempfile.mkdtemp(prefix="agentdesk-template-"))
        atexit.register(shutil.rmtree, folder, True)
        engine = make_engine(f"sqlite:///{folder / 'template.db'}")
        upgrade(engine)
        engine.dispose()
        _TEMPLATE_DATABASE.append(folder / "template.db")
    shutil.copyfile(_TEMPLATE_DATABASE[0], path)


def make_settings(
    tmp_path: Path,
    fake: FakeAnthropic | None = None,
    *,
    migrated: bool = True,
    **overrides: Any,
) -> Settings:
    """Settings for a test: a SQLite file in tmp_path (already migrated unless told not to)
    and, with a fake, a key pointing at it."""
    agents = tmp_path / "agents"
    if not agents.exists():
        agents.mkdir()
        shutil.copy(PROJECT_ROOT / "agents" / "backend-feature-developer.md", agents)
        (agents / "frontend-feature-developer.md").write_text(FRONTEND_AGENT, encoding="utf-8")
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'agentdesk.db'}",
        "agents_dir": agents,
        "model_max_retries": 2,
        "model_retry_wait_cap_seconds": 0.05,
        "model_timeout_seconds": 10,
    }
    if fake is not None:
        values["anthropic_api_key"] = "test-key"
        values["anthropic_base_url"] = fake.base_url
    values.update(overrides)
    database = tmp_path / "agentdesk.db"
    if migrated and values["database_url"] == f"sqlite:///{database}" and not database.exists():
        migrated_sqlite(database)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@contextmanager
def desk_with(settings: Settings) -> Iterator[Desk]:
    """A desk over the settings, disposed of afterwards."""
    desk = build_desk(settings)
    try:
        yield desk
    finally:
        desk.engine.dispose()


def stored_conversation(desk: Desk, conversation_id: int) -> Conversation | None:
    """A conversation's row as stored (tests look at what adapters never see)."""
    with Session(desk.engine, expire_on_commit=False) as session:
        return session.get(Conversation, conversation_id)


class RecordingPoster:
    """A poster that remembers what it showed; can be told to fail."""

    def __init__(self) -> None:
        self.posted: list[Reply] = []
        self.threads: list[int] = []  # the conversation of each posted reply
        self.working: list[str] = []
        self.channel_posts: list[ChannelPost] = []
        self.fail_next = 0

    def post(self, *, thread: ThreadRef, reply: Reply) -> str | None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("chat unreachable")
        self.posted.append(reply)
        self.threads.append(thread.id)
        return reply.slack_ts or f"1700000000.{len(self.posted):06d}"  # an edit keeps its ts

    def post_to_channel(self, *, post: ChannelPost) -> str | None:
        self.channel_posts.append(post)
        return f"1700000001.{len(self.channel_posts):06d}"

    def show_working(self, *, thread: ThreadRef, activity: str) -> None:
        self.working.append(f"{thread.agent} {activity}")
