"""One summary of an agent for every place that lists agents."""

from pathlib import Path

import pytest

from bot.agents.description import summary
from bot.agents.model import AgentDefinition, ReadMode


def _agent(description: str) -> AgentDefinition:
    return AgentDefinition(
        name="backend-feature-developer",
        description=description,
        body="b",
        source=Path("x.md"),
        read_mode=ReadMode.STRICT,
    )


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("Builds APIs. Also writes migrations.", "Builds APIs."),
        (
            "Use this agent for backend work.\\n<example>user: 'x'</example>",
            "Use this agent for backend work.",
        ),
        ("<example>Context: only examples</example>", "backend-feature-developer"),
    ],
)
def test_the_first_sentence_without_examples(description: str, expected: str) -> None:
    assert summary(_agent(description)) == expected


def test_a_long_first_sentence_is_cut_at_a_word() -> None:
    shown = summary(_agent("word " * 100), limit=30)
    assert len(shown) <= 30 and shown.endswith("…") and "wor…" not in shown
