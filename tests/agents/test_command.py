"""`agentdesk agents list|show|check` as a user runs them."""

from pathlib import Path

from typer.testing import CliRunner

from bot.cli.main import app
from tests.agents.conftest import AgentWriter

runner = CliRunner(env={"COLUMNS": "200"})


def test_list_shows_the_seed() -> None:
    result = runner.invoke(app, ["agents", "list"])
    assert result.exit_code == 0, result.output
    assert "backend-feature-developer" in result.output


def test_show_prints_examples_and_prompt() -> None:
    result = runner.invoke(app, ["agents", "show", "backend-feature-developer"])
    assert result.exit_code == 0, result.output
    assert "I need to implement OAuth login functionality for my users" in result.output
    assert "You are an expert backend developer" in result.output


def test_show_unknown_agent_lists_what_exists() -> None:
    result = runner.invoke(app, ["agents", "show", "nobody"])
    assert result.exit_code == 1
    assert "No agent named 'nobody'" in result.output
    assert "backend-feature-developer" in result.output


def test_check_passes_on_the_shipped_agents() -> None:
    result = runner.invoke(app, ["agents", "check"])
    assert result.exit_code == 0, result.output
    assert "0 error(s): 0 unusable file(s), 0 duplicate name(s)" in result.output
    assert "1 warning(s)" in result.output  # the seed's frontmatter is read tolerantly


def test_check_counts_duplicate_names_as_errors(write_agent: AgentWriter, tmp_path: Path) -> None:
    write_agent("a.md", "---\nname: twin\ndescription: one\n---\nPrompt.\n")
    write_agent("b.md", "---\nname: twin\ndescription: two\n---\nPrompt.\n")
    result = runner.invoke(app, ["agents", "check", str(tmp_path / "agents")])
    assert result.exit_code == 1
    assert "2 files: 1 agents loaded" in result.output
    assert "1 error(s): 0 unusable file(s), 1 duplicate name(s)" in result.output


def test_warnings_alone_pass(write_agent: AgentWriter, tmp_path: Path) -> None:
    write_agent("loose.md", "---\nname: loose\ndescription: Context: a: b\n---\nPrompt.\n")
    result = runner.invoke(app, ["agents", "check", str(tmp_path / "agents")])
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.output and "1 warning(s)" in result.output


def test_check_reports_every_problem_and_fails(write_agent: AgentWriter, tmp_path: Path) -> None:
    write_agent("good.md", "---\nname: good\ndescription: ok\n---\nPrompt.\n")
    write_agent("bad.md", "---\nname: bad\n---\nPrompt.\n")
    result = runner.invoke(app, ["agents", "check", str(tmp_path / "agents")])
    assert result.exit_code == 1
    assert "bad.md:2: error: missing 'description:' in the frontmatter" in result.output
    assert "2 files: 1 agents loaded" in result.output
    assert "1 error(s): 1 unusable file(s), 0 duplicate name(s)" in result.output


def test_check_an_empty_folder_fails_clearly(tmp_path: Path) -> None:
    result = runner.invoke(app, ["agents", "check", str(tmp_path)])
    assert result.exit_code == 1
    assert "No agent files" in result.output
