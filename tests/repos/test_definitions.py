"""Which agents get which repository tools, as Anthropic tool definitions."""

from pathlib import Path

import pytest

from bot.agents.model import AgentDefinition, ReadMode
from bot.repos import REPO_TOOL_NAMES, ToolLimits, repo_tool_names, tool_definitions


def _agent(tools: str | list[str] | None) -> AgentDefinition:
    return AgentDefinition(
        name="planner",
        description="Plans features.",
        body="You plan.",
        source=Path("agents/planner.md"),
        read_mode=ReadMode.STRICT,
        tools_declared=tools,
    )


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        (None, ["list_files", "read_file", "search_code"]),
        ("*", ["list_files", "read_file", "search_code"]),
        (["*"], ["list_files", "read_file", "search_code"]),
        ("Read, Grep, Glob, Write", ["list_files", "read_file", "search_code"]),
        ("Read", ["read_file"]),
        (["Grep", "WebSearch"], ["search_code"]),
        ("Glob,Read", ["list_files", "read_file"]),
        ("Write, Edit, Bash", []),
        ("", []),
        ("read, grep", []),  # Claude Code's names are case-sensitive
    ],
)
def test_tools_follow_the_agents_tools_line(
    declared: str | list[str] | None, expected: list[str]
) -> None:
    agent = _agent(declared)
    definitions = tool_definitions(agent_tools=agent.tools, repo_names=["api", "web"])
    assert [d["name"] for d in definitions] == expected
    assert repo_tool_names(agent.tools) == expected


def test_an_agent_without_the_tools_gets_no_definitions() -> None:
    agent = _agent(["Write", "Bash"])
    assert not agent.allows_tool("Read")
    assert tool_definitions(agent_tools=agent.tools, repo_names=["api"]) == []


def test_no_repositories_no_tools() -> None:
    assert tool_definitions(agent_tools=None, repo_names=[]) == []


def test_definitions_are_valid_and_name_the_repositories() -> None:
    definitions = tool_definitions(
        agent_tools=None, repo_names=["api", "web"], limits=ToolLimits(read_lines=123)
    )
    assert tuple(d["name"] for d in definitions) == REPO_TOOL_NAMES
    for definition in definitions:
        assert set(definition) == {"name", "description", "input_schema"}
        schema = definition["input_schema"]
        assert schema["type"] == "object"
        assert schema["properties"]["repo"]["enum"] == ["api", "web"]
        assert set(schema["required"]) <= set(schema["properties"])
        assert "repo" in schema["required"]
    read = next(d for d in definitions if d["name"] == "read_file")
    assert "Returns up to 123 lines" in read["description"]
    assert tool_definitions(agent_tools=None, repo_names=["api", "web"]) == tool_definitions(
        agent_tools=None, repo_names=["api", "web"]
    )  # stable, so the prompt cache holds
