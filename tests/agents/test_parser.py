"""Reading single agent files: the seed, tolerant YAML, tools, and files that can't be used."""

from pathlib import Path

import pytest

from bot.agents.model import ReadMode, Severity
from bot.agents.parser import parse_agent_file, parse_agent_text
from tests.agents.conftest import AgentWriter
from tests.conftest import PROJECT_ROOT

SEED = PROJECT_ROOT / "agents" / "backend-feature-developer.md"


def test_seed_is_the_customers_file_byte_for_byte() -> None:
    shared = PROJECT_ROOT.parent / "shared" / "seeds" / "backend-feature-developer.md"
    if not shared.exists():
        pytest.skip(f"the customer's original is not beside the project ({shared})")
    assert SEED.read_bytes() == shared.read_bytes()


def test_seed_loads_with_full_description_and_both_examples() -> None:
    result = parse_agent_file(SEED)
    agent = result.agent
    assert agent is not None
    assert agent.name == "backend-feature-developer"
    assert agent.read_mode is ReadMode.TOLERANT  # its description holds ': ' and isn't YAML
    assert agent.description.startswith("Use this agent when you need to expand the backend")
    assert agent.description.endswith("is the right choice.</commentary></example>")
    assert agent.tools is None and agent.allows_all_tools and agent.model is None
    assert agent.body.startswith("You are an expert backend developer")
    first, second = agent.examples
    assert first.context == (
        "User wants to add a new user authentication system to their existing web app."
    )
    assert first.user_requests == ("I need to implement OAuth login functionality for my users",)
    assert first.assistant_replies[0].startswith("I'll use the backend-feature-developer agent")
    assert first.commentary.startswith("Since the user needs new backend functionality")
    assert second.user_requests == (
        "Can you help me build a real-time notification feature for user alerts?",
    )
    warning = result.problems[0]
    assert warning.severity is Severity.WARNING and "not valid YAML" in warning.message


@pytest.mark.parametrize(
    ("tools_line", "expected"),
    [
        ("tools: Read, Grep, Glob", ["Read", "Grep", "Glob"]),
        ("tools: [Read, Write]", ["Read", "Write"]),
        ('tools: ["*"]', ["*"]),
        ("tools:\n  - Read\n  - Bash", ["Read", "Bash"]),
        ("tools: []", []),
        ("", None),
    ],
)
def test_tools_become_a_list(tools_line: str, expected: list[str] | None) -> None:
    text = f"---\nname: a\ndescription: does things\n{tools_line}\n---\nprompt\n"
    agent = parse_agent_text(text, path=Path("a.md")).agent
    assert agent is not None
    assert agent.tools == expected


def test_tolerant_reading_keeps_description_as_written_and_other_keys() -> None:
    text = (
        "---\nname: gdpr\ndescription: Use for privacy. Triggers on: 'GDPR', 'CCPA'.\n"
        "tools: Read, Grep\nmodel: haiku\nemoji: 🔒\n---\nYou are a privacy expert.\n"
    )
    agent = parse_agent_text(text, path=Path("gdpr.md")).agent
    assert agent is not None
    assert agent.read_mode is ReadMode.TOLERANT
    assert agent.description == "Use for privacy. Triggers on: 'GDPR', 'CCPA'."
    assert agent.tools == ["Read", "Grep"]
    assert agent.model == "haiku"
    assert agent.extra == {"emoji": "🔒"}


def test_unknown_keys_are_kept_when_strict() -> None:
    text = "---\nname: a\ndescription: d\ncolor: blue\nvibe: calm\n---\nbody\n"
    agent = parse_agent_text(text, path=Path("a.md")).agent
    assert agent is not None
    assert agent.color == "blue" and agent.extra == {"vibe": "calm"}


@pytest.mark.parametrize(
    ("filename", "text", "line", "message"),
    [
        ("plain.md", "Just some notes.\n", 1, "no frontmatter: the file must start with a '---'"),
        ("open.md", "---\nname: a\ndescription: b\n", 1, "frontmatter is not closed"),
        ("noname.md", "---\ndescription: b\n---\nbody\n", 2, "missing 'name:'"),
        (
            "nodesc.md",
            "---\nname: a\ntools: Read\n---\nbody\n",
            2,
            "missing 'description:'",
        ),
        ("empty.md", "---\nname: a\ndescription: b\n---\n\n  \n", 4, "empty body"),
        (
            "zw.md",
            "---\ncolor: red\nname: zero\u200bwidth\ndescription: b\n---\nbody\n",
            3,
            "name 'zero\\u200bwidth' contains the invisible character U+200B, "
            "which can't be typed in Slack",
        ),
        ("list.md", "---\n- a\n- b\n---\nbody\n", 2, "frontmatter must be 'key: value' lines"),
    ],
)
def test_unusable_files_are_reported_with_file_and_line(
    write_agent: AgentWriter, filename: str, text: str, line: int, message: str
) -> None:
    path = write_agent(filename, text)
    result = parse_agent_file(path)
    assert result.agent is None
    error = result.problems[-1]
    assert error.severity is Severity.ERROR
    assert error.path == path and error.line == line
    assert message in error.message
    assert str(error).startswith(f"{path}:{line}: error: ")


def test_a_file_that_is_not_utf8_is_reported(write_agent: AgentWriter) -> None:
    path = write_agent("latin.md", "")
    path.write_bytes(b"---\nname: caf\xe9\n---\n")
    result = parse_agent_file(path)
    assert result.agent is None
    assert "not UTF-8 text" in result.problems[0].message
