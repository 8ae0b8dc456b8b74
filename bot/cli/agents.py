"""`agentdesk agents …`: list, show and check agent files."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.console import terminal

if TYPE_CHECKING:
    from bot.agents.registry import Roster

agents_app = typer.Typer(
    help="List, show and check the agents in AGENTS_DIR.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

DirOption = Annotated[
    Path | None, typer.Option("--agents-dir", help="Folder of agent files (default: AGENTS_DIR).")
]


def _roster(directory: Path | None) -> "Roster":
    """The agents in the folder; a folder that does not exist is a StartupError."""
    from bot.agents.registry import load_roster
    from bot.config import get_settings
    from bot.runtime.startup import StartupError

    folder = directory or get_settings().agents_dir
    if not folder.is_dir():
        raise StartupError(
            f"No agents folder at {folder}",
            "Pass an existing folder, or set AGENTS_DIR (this repository's agents/).",
        )
    return load_roster(folder)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


@agents_app.command("list")
def list_agents(agents_dir: DirOption = None) -> None:
    """Show every loaded agent: name, model, tools, examples and file."""
    from rich.table import Table

    from bot.agents.model import Severity

    roster = _roster(agents_dir)
    console = terminal()
    table = Table(title=f"{len(roster)} agents in {roster.directory}")
    table.add_column("name", no_wrap=True)
    for column in ("model", "tools", "examples", "file"):
        table.add_column(column, overflow="fold")
    for agent in roster:
        tools = "all" if agent.tools is None else ", ".join(agent.tools) or "none"
        table.add_row(
            agent.name,
            agent.model or "default",
            tools,
            str(len(agent.examples)),
            _relative(agent.source, roster.directory),
        )
    console.print(table)
    errors = [p for p in roster.problems if p.severity is Severity.ERROR]
    if errors:
        console.print(f"[yellow]{len(errors)} problem(s); run `agentdesk agents check`.[/]")


@agents_app.command("show")
def show_agent(name: str, agents_dir: DirOption = None) -> None:
    """Show one agent: its settings, parsed examples and system prompt."""
    roster = _roster(agents_dir)
    console = terminal()
    agent = roster.get(name)
    if agent is None:
        known = ", ".join(sorted(roster.agents)) or "none"
        console.print(f"[red]No agent named {name!r}.[/] Loaded agents: {known}")
        raise typer.Exit(code=1)
    console.print(f"[bold]{agent.name}[/]  ({agent.source}, read {agent.read_mode})")
    console.print(f"model: {agent.model or 'default'}   color: {agent.color or '-'}")
    tools = "all (no tools: line)" if agent.tools is None else ", ".join(agent.tools) or "none"
    console.print(f"tools: {tools}")
    for key, value in agent.extra.items():
        console.print(f"{key}: {value}")
    console.rule("description")
    console.print(agent.description, markup=False)
    for number, example in enumerate(agent.examples, start=1):
        console.rule(f"example {number}")
        if example.context:
            console.print(f"context: {example.context}", markup=False)
        for turn in example.turns:
            console.print(f"{turn.role}: {turn.text}", markup=False)
        if example.commentary:
            console.print(f"commentary: {example.commentary}", markup=False)
    console.rule("system prompt")
    console.print(agent.body, markup=False)


@agents_app.command("check")
def check_agents(
    directory: Annotated[
        Path | None, typer.Argument(help="Folder to check (default: AGENTS_DIR).")
    ] = None,
) -> None:
    """Report every problem with file and line; exit status 1 when any problem is an error."""
    from bot.agents.model import Severity

    roster = _roster(directory)
    console = terminal()
    if not roster.files:
        console.print(f"[red]No agent files (*.md) found in {roster.directory}.[/]")
        raise typer.Exit(code=1)
    for problem in roster.problems:
        colour = "red" if problem.severity is Severity.ERROR else "yellow"
        console.print(f"[{colour}]{problem}[/]", highlight=False, soft_wrap=True)
    console.print(summary(roster), highlight=False)
    if roster.has_errors:
        raise typer.Exit(code=1)


def summary(roster: "Roster") -> str:
    """One line counting files, agents and every kind of problem."""
    from bot.agents.model import Severity

    errors = [p for p in roster.problems if p.severity is Severity.ERROR]
    in_files = {id(p) for report in roster.files for p in report.problems}
    duplicates = sum(1 for p in errors if id(p) not in in_files)
    unusable = sum(1 for report in roster.files if not report.usable)
    other = sum(
        1
        for report in roster.files
        if report.usable
        for p in report.problems
        if p.severity is Severity.ERROR
    )
    warnings = len(roster.problems) - len(errors)
    tolerant = sum(1 for report in roster.files if report.read_mode == "tolerant")
    return (
        f"{len(roster.files)} files: {len(roster)} agents loaded ({tolerant} read tolerantly); "
        f"{len(errors)} error(s): {unusable} unusable file(s), {duplicates} duplicate name(s), "
        f"{other} in usable files; {warnings} warning(s)."
    )
