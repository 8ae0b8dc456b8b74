"""Agent files for routing tests, written to a temporary folder."""

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.agents.registry import AgentRegistry, Roster, load_roster

BACKEND = """\
---
name: backend-feature-developer
description: Use this agent to build server-side features - APIs, endpoints, database \
schemas, authentication and background jobs. <example>Context: Login. user: 'I need to \
implement OAuth login for my users' assistant: 'I will use the backend-feature-developer \
agent' <commentary>Server work.</commentary></example> <example>Context: Alerts. user: \
'Build a real-time notification service for user alerts' assistant: 'Using the \
backend-feature-developer agent' <commentary>Backend service.</commentary></example>
---
You build backend features.
"""

FRONTEND = """\
---
name: frontend-feature-developer
description: Use this agent for user-facing screens, pages, buttons, layout, CSS and \
components. <example>Context: A new page. user: 'Add a settings page with a dark mode \
toggle' assistant: 'I will use the frontend-feature-developer agent' \
<commentary>UI work.</commentary></example>
---
You build user interfaces.
"""

ARCHITECT = """\
---
name: Backend Architect
description: Designs system architecture, service boundaries, scalability and capacity \
plans for distributed systems. <example>Context: Growth. user: 'Plan how our services \
should scale to ten times the traffic' assistant: 'Let me ask the Backend Architect' \
<commentary>Architecture.</commentary></example>
---
You design systems.
"""

DATA = """\
---
name: data-reporting-analyst
description: Use this agent for dashboards, metrics, KPI definitions, recurring reports \
and SQL queries over analytics events. <example>Context: Numbers. user: 'What was our \
weekly signup conversion by acquisition channel last quarter?' assistant: 'I will use the \
data-reporting-analyst agent' <commentary>Analytics.</commentary></example>
---
You answer data questions.
"""

AgentFiles = Callable[..., Path]


def agent_text(name: str, description: str, body: str = "You help.") -> str:
    """The text of a minimal agent file."""
    return f"---\nname: {name}\ndescription: {description}\n---\n{body}\n"


@pytest.fixture
def agents_dir(tmp_path: Path) -> Path:
    """A folder with four agents: backend, frontend, `Backend Architect`, data reporting."""
    folder = tmp_path / "agents"
    folder.mkdir()
    for file_name, text in {
        "backend.md": BACKEND,
        "frontend.md": FRONTEND,
        "architect.md": ARCHITECT,
        "data.md": DATA,
    }.items():
        (folder / file_name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def roster(agents_dir: Path) -> Roster:
    """The four agents, loaded."""
    return load_roster(agents_dir)


@pytest.fixture
def registry(agents_dir: Path) -> AgentRegistry:
    """A registry over the four agents' folder."""
    return AgentRegistry(agents_dir)


@pytest.fixture
def make_roster(tmp_path: Path) -> Callable[..., Roster]:
    """Build a roster from `{file name: file text}` in a fresh folder."""
    counter = iter(range(1000))

    def build(files: dict[str, str]) -> Roster:
        folder = tmp_path / f"roster{next(counter)}"
        folder.mkdir()
        for file_name, text in files.items():
            (folder / file_name).write_text(text, encoding="utf-8")
        return load_roster(folder)

    return build
