"""The `agentdesk` command line (also `python -m bot`)."""

import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bot.agents.command import agents_app
from bot.config import get_settings
from bot.conversations_command import conversations_app
from bot.doctor import run_checks
from bot.engine.desk import Desk
from bot.routing.command import route
from bot.runtime import build_desk, build_scheduler, missing_for_model, missing_for_slack
from bot.shell import HELP, Shell
from bot.slack.app import build_workspaces, oauth_mode
from bot.slack.runner import run_socket_mode, serve_http
from bot.slack.users import UserDirectory
from bot.store.db import current_revision, describe_url, make_engine, upgrade

app = typer.Typer(
    name="agentdesk",
    help="agentdesk: a Slack desk of AI agents that turn feature requests into plans.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(agents_app, name="agents")
app.command("route", help="Show which agent a request would go to, and why.")(route)

app.add_typer(conversations_app, name="conversations")
db_app = typer.Typer(help="The database: migrations and status.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to DATABASE_URL."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    console.print(
        f"{describe_url(settings.database_url)} is at revision {current_revision(engine)}."
    )


@db_app.command("status")
def db_status() -> None:
    """Print the database URL (password hidden) and its migration revision."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    revision = current_revision(engine) or "none (run `agentdesk db upgrade`)"
    console.print(f"{describe_url(settings.database_url)}: revision {revision}")


@app.command("shell")
def shell(
    plans_dir: Annotated[
        Path, typer.Option(help="Where delivered plans are saved as Markdown.")
    ] = Path("plans"),
) -> None:
    """Talk to agentdesk in the terminal: a one-person thread through the same engine."""
    _start_shell(plans_dir)


@app.command("run")
def run(
    plans_dir: Annotated[
        Path, typer.Option(help="Where the local shell saves delivered plans.")
    ] = Path("plans"),
) -> None:
    """Start agentdesk: Socket Mode when SLACK_APP_TOKEN is set, else the local shell.

    Either way it migrates the database, loads the agents and says what is missing.
    """
    _configure_logging()
    settings = get_settings()
    desk = _ready_desk()
    missing_slack = missing_for_slack(settings)
    if settings.slack_app_token is not None and settings.slack_bot_token is not None:
        console.print("Connecting to Slack in Socket Mode (Ctrl-C to stop).")
        run_socket_mode(settings, desk)
        return
    if missing_slack:
        console.print(
            "[yellow]Slack is not connected. For Socket Mode set SLACK_BOT_TOKEN and "
            "SLACK_APP_TOKEN; for HTTP mode set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET and run "
            "`agentdesk serve`. Missing: " + "; ".join(missing_slack) + ".[/]"
        )
    elif settings.slack_app_token is None:
        console.print(
            "[yellow]SLACK_APP_TOKEN is not set, so Socket Mode can't start: set it, or run "
            "`agentdesk serve` for HTTP mode.[/]"
        )
    if not sys.stdin.isatty():
        console.print("No terminal to talk in; the database and the agents are ready.")
        return
    console.print("Starting the local shell.")
    _start_shell(plans_dir, desk=desk)


@app.command("serve")
def serve(
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (default: PORT, else 3000).")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "0.0.0.0",  # noqa: S104
) -> None:
    """HTTP mode: POST /slack/events (events, /feature, buttons) and GET /healthz."""
    _configure_logging()
    settings = get_settings()
    desk = _ready_desk()
    missing = missing_for_slack(settings)
    if settings.slack_bot_token is None or settings.slack_signing_secret is None:
        console.print(
            "[red]HTTP mode needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET. Missing: "
            + "; ".join(missing or ["SLACK_SIGNING_SECRET (Basic Information page)"])
            + ".[/]"
        )
        raise typer.Exit(code=2)
    serve_http(settings, desk, host=host, port=port or settings.port)


@app.command("scheduler")
def scheduler() -> None:
    """Run the follow-up scheduler as its own process (the Procfile's `clock:` line).

    Reminders, auto-close, the digest and retention. Exactly one scheduler runs across all
    processes sharing the database; a second one waits and takes over if the first stops.
    """
    _configure_logging()
    settings = get_settings()
    desk = _ready_desk()
    timezone_of = None
    if settings.slack_bot_token is not None or oauth_mode(settings):
        users = UserDirectory(build_workspaces(settings, desk.engine).client_for)
        timezone_of = lambda user: users.get(user).tz  # noqa: E731
    service = build_scheduler(settings, desk, timezone_of=timezone_of).start()
    console.print("Scheduler started (Ctrl-C to stop).")
    stopped = threading.Event()
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()


@app.command("doctor")
def doctor() -> None:
    """Check the Slack tokens and scopes, the database, the agents and the model key."""
    checks = run_checks(get_settings())
    for check in checks:
        mark = "[green]ok[/]  " if check.ok else "[red]FAIL[/]"
        console.print(f"{mark} {check.name}: {check.detail}", highlight=False)
        if check.fix:
            console.print(f"      → {check.fix}", highlight=False)
    if not all(check.ok for check in checks):
        raise typer.Exit(code=1)


def _ready_desk() -> Desk:
    """Migrate, load agents, and report what is missing for the model."""
    settings = get_settings()
    desk = build_desk(settings)
    roster = desk.registry.roster()
    console.print(
        f"Database {describe_url(settings.database_url)} migrated; "
        f"{len(roster)} agents loaded from {settings.agents_dir}"
        + (
            f" ({len(roster.problems)} problems: `agentdesk agents check`)"
            if roster.problems
            else ""
        )
        + "."
    )
    missing_model = missing_for_model(settings)
    if missing_model:
        console.print(f"[yellow]{missing_model}[/]")
    return desk


def _start_shell(plans_dir: Path, desk: Desk | None = None) -> None:
    logging.getLogger().setLevel(logging.WARNING)  # the terminal is for the conversation
    if desk is None:
        desk = _ready_desk()
    console.print(HELP)
    Shell(desk, console, plans_dir=plans_dir).run(_prompt_lines())


def _prompt_lines() -> Iterator[str]:
    while True:
        try:
            yield console.input("[bold]you>[/] ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets itself to DEBUG
