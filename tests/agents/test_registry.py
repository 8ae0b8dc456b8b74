"""The registry: loading a folder, duplicates, and picking up changes without a restart."""

import os
from pathlib import Path

from bot.agents.model import Severity
from bot.agents.registry import AgentRegistry
from tests.agents.conftest import AgentWriter


def agent_text(name: str, description: str = "Handles things.", body: str = "Prompt.") -> str:
    return f"---\nname: {name}\ndescription: {description}\n---\n{body}\n"


def test_loads_recursively_including_hidden_files_and_skips_readmes(
    write_agent: AgentWriter, tmp_path: Path
) -> None:
    write_agent("one.md", agent_text("one"))
    write_agent("nested/deeper/two.md", agent_text("two"))
    write_agent(".claude__agents__three.md", agent_text("three"))
    write_agent("README.md", "# Our agents\n")
    write_agent("notes.txt", "not markdown")
    roster = AgentRegistry(tmp_path / "agents").roster()
    assert sorted(roster.agents) == ["one", "three", "two"]
    assert roster.problems == ()


def test_a_bad_file_never_stops_the_others(write_agent: AgentWriter, tmp_path: Path) -> None:
    write_agent("good.md", agent_text("good"))
    bad = write_agent("bad.md", "no frontmatter here\n")
    roster = AgentRegistry(tmp_path / "agents").roster()
    assert list(roster.agents) == ["good"]
    assert [p.path for p in roster.problems] == [bad]
    assert roster.has_errors


def test_duplicate_names_name_both_files_and_the_winner(
    write_agent: AgentWriter, tmp_path: Path
) -> None:
    first = write_agent("a/helper.md", agent_text("helper", "First."))
    second = write_agent("b/helper.md", agent_text("helper", "Second."))
    roster = AgentRegistry(tmp_path / "agents").roster()
    assert roster.agents["helper"].source == first
    (problem,) = roster.problems
    assert problem.path == second and problem.severity is Severity.ERROR
    assert problem.message == (
        f"the name 'helper' is also used by {first}; "
        "that file wins (it sorts first) and this one is ignored"
    )


def test_add_edit_and_delete_are_seen_by_the_next_call(
    write_agent: AgentWriter, tmp_path: Path
) -> None:
    registry = AgentRegistry(tmp_path / "agents")
    path = write_agent("one.md", agent_text("one", "Version one."))
    assert registry.roster().agents["one"].description == "Version one."

    write_agent("two.md", agent_text("two"))
    assert sorted(registry.roster().agents) == ["one", "two"]

    path.write_text(agent_text("one", "Version two, longer."), encoding="utf-8")
    assert registry.roster().agents["one"].description == "Version two, longer."

    path.unlink()
    assert sorted(registry.roster().agents) == ["two"]


def test_an_edit_with_the_same_size_is_seen(write_agent: AgentWriter, tmp_path: Path) -> None:
    registry = AgentRegistry(tmp_path / "agents")
    path = write_agent("one.md", agent_text("one", "Version A."))
    registry.roster()
    before = path.stat().st_mtime_ns
    path.write_text(agent_text("one", "Version B."), encoding="utf-8")
    os.utime(path, ns=(before + 1_000_000, before + 1_000_000))
    assert registry.roster().agents["one"].description == "Version B."


def test_no_change_returns_the_same_roster_without_parsing(
    write_agent: AgentWriter, tmp_path: Path, monkeypatch: object
) -> None:
    write_agent("one.md", agent_text("one"))
    registry = AgentRegistry(tmp_path / "agents")
    first = registry.roster()
    second = registry.roster()
    assert second is first and second.version == first.version


def test_a_missing_folder_gives_an_empty_roster(tmp_path: Path) -> None:
    roster = AgentRegistry(tmp_path / "nowhere").roster()
    assert len(roster) == 0 and roster.files == ()


def test_lookup_is_case_insensitive(write_agent: AgentWriter, tmp_path: Path) -> None:
    write_agent("ux.md", agent_text("UX Architect"))
    roster = AgentRegistry(tmp_path / "agents").roster()
    found = roster.get("ux architect")
    assert found is not None and found.name == "UX Architect"
