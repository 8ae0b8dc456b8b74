"""Helpers for writing agent files in tests."""

from collections.abc import Callable
from pathlib import Path

import pytest

AgentWriter = Callable[..., Path]


@pytest.fixture
def write_agent(tmp_path: Path) -> AgentWriter:
    """Write an agent file under `tmp_path/agents` and return its path."""
    folder = tmp_path / "agents"
    folder.mkdir(exist_ok=True)

    def write(filename: str, text: str) -> Path:
        path = folder / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write
