"""The `agentdesk` command line (also `python -m bot`).

Commands import what they need when they run, so `agentdesk --help` and the quick commands
start fast (`bench/cli_speed.py`). A start-up failure prints one line saying what to do and
exits non-zero (`main`); `agentdesk --debug …` adds the traceback.
"""

import contextlib
import logging
import os
import signal
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from bot.cli.agents import agents_app
from bot.cli.console import terminal
from bot.cli.conversations import conversations_app
from bot.cli.route import route
from bot.cli.usage import usage

if TYPE_CHECKING:
    from rich.console import Console

    from bot.config import Settings
    from bot.engine.desk import Desk


class _OneLineErrors(TyperGroup):
    """The top-level group: whatever a command raises ends as one line and a non-zero exit,
    with the traceback only under `--debug` (for `python -m bot`, the script and tests alike)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except Exception as error:
            from bot.runtime.startup import explain

            if _options["debug"]:
                traceback.print_exception(error)
            explained = explain(error)
            typer.echo(f"agentdesk: {explained.line()}", err=True)
            raise typer.Exit(2 if explained.expected else 1) from None


app = typer.Typer(
    cls=_OneLineErrors,
    name="agentdesk",
    help="agentdesk: a Slack desk of AI agents that turn feature requests into plans.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,  # plain help: rich's help renderer alone takes 0.2 s to import
)
app.add_typer(agents_app, name="agents")
app.command("route", help="Show which agent a request would go to, and why.")(route)
app.command("usage", help="Tokens and dollars spent on the model, by agent, channel or user.")(
    usage
)

app.add_typer(conversations_app, name="conversations")
db_app = typer.Typer(
    help="The database: migrations and status.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(db_app, name="db")

_options = {"debug": False}


@app.callback()
def _global_options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback when something fails.")
    ] = False,
) -> None:
    """agentdesk: a Slack desk of AI agents that turn feature requests into plans."""
    _options["debug"] = debug


def main() -> None:
    """The `agentdesk` entry point."""
    app(prog_name="agentdesk")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to DATABASE_URL."""
    from bot.config import get_settings
    from bot.runtime.startup import require_database
    from bot.store.db import current_revision, describe_url, make_engine, upgrade

    settings = get_settings()
    require_database(settings)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    terminal().print(
        f"{describe_url(settings.database_url)} is at revision {current_revision(engine)}."
    )


@db_app.command("status")
def db_status() -> None:
    """Print the database URL (password hidden) and its migration revision."""
    from bot.config import get_settings
    from bot.runtime.startup import require_database
    from bot.store.db import current_revision, describe_url, make_engine

    settings = get_settings()
    require_database(settings)
    engine = make_engine(settings.database_url)
    revision = current_revision(engine) or "none (run `agentdesk db upgrade`)"
    terminal().print(f"{describe_url(settings.database_url)}: revision {revision}")


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
    from bot.config import get_settings
    from bot.runtime.build import missing_for_slack

    _configure_logging()
    settings = get_settings()
    socket_mode = settings.slack_app_token is not None and settings.slack_bot_token is not None
    desk = _ready_desk(settings, slack=socket_mode)
    console = terminal()
    if socket_mode:
        from bot.runtime.serve import run_socket_mode

        console.print("Connecting to Slack in Socket Mode (Ctrl-C to stop).")
        _stop_on_sigterm()
        try:
            run_socket_mode(settings, desk)
        except KeyboardInterrupt:
            console.print("Stopped; running turns were handed back.")
        return
    missing_slack = missing_for_slack(settings)
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
    """HTTP mode: POST /slack/events, GET /healthz, /readyz and /metrics."""
    from bot.config import get_settings
    from bot.runtime.worker_processes import share_metrics_between_processes

    _configure_logging()
    settings = get_settings()
    if settings.worker_processes:
        share_metrics_between_processes()  # before anything loads the metrics

    from bot.runtime.build import missing_for_slack
    from bot.runtime.startup import StartupError

    if settings.slack_bot_token is None or settings.slack_signing_secret is None:
        missing = missing_for_slack(settings)
        raise StartupError(
            "HTTP mode needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET. Missing: "
            + "; ".join(missing or ["SLACK_SIGNING_SECRET (Basic Information page)"]),
            "Set them in the environment or .env (see .env.sample).",
        )
    desk = _ready_desk(settings, slack=True)
    from bot.runtime.serve import serve_http

    serve_http(settings, desk, host=host, port=port or settings.port)


@app.command("work")
def work(
    implement: Annotated[
        bool,
        typer.Option(
            "--implement",
            help="Work implementation runs instead of agent turns: IMPLEMENT_CONCURRENCY at "
            "once, their progress and pull request posted to the Slack thread. Set "
            "IMPLEMENT_IN_PROCESS=false on `serve`/`run` to leave every run to these.",
        ),
    ] = False,
    from_parent: Annotated[
        bool, typer.Option("--from-parent", hidden=True, help="Started by `agentdesk serve`.")
    ] = False,
) -> None:
    """Run agent turns, without serving HTTP: `agentdesk serve` starts WORKER_PROCESSES of
    these itself; start more on other machines that share its PostgreSQL database.

    With --implement it works implementation runs and no agent turns (`serve` and plain
    `agentdesk work` run those); a run takes about half a gigabyte, so these suit machines
    of their own.
    """
    from bot.config import get_settings
    from bot.runtime.serve import run_implementation_worker, run_worker

    _configure_logging()
    settings = get_settings()
    desk = _ready_desk(settings, slack=True, quiet=from_parent)
    _stop_on_sigterm()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C or SIGTERM: work was handed back
        if implement:
            run_implementation_worker(settings, desk)
        else:
            run_worker(settings, desk, from_parent=from_parent)
    # Threads still waiting on the model hold no lease any more (whatever they finish is
    # dropped): exit now instead of waiting for them at interpreter exit.
    logging.shutdown()
    os._exit(0)


@app.command("scheduler")
def scheduler() -> None:
    """Run the follow-up scheduler as its own process (the Procfile's `clock:` line).

    Reminders, auto-close, the digest and retention. Exactly one scheduler runs across all
    processes sharing the database; a second one waits and takes over if the first stops.
    """
    import threading

    from bot.config import get_settings
    from bot.runtime.build import build_scheduler

    _configure_logging()
    settings = get_settings()
    desk = _ready_desk(settings, slack=settings.slack_bot_token is not None)
    timezone_of = None
    from bot.slack.app import build_workspaces, oauth_mode

    if settings.slack_bot_token is not None or oauth_mode(settings):
        from bot.slack.users import UserDirectory

        users = UserDirectory(build_workspaces(settings, desk.engine).client_for)
        timezone_of = lambda user: users.get(user).tz  # noqa: E731
    service = build_scheduler(settings, desk, timezone_of=timezone_of).start()
    terminal().print("Scheduler started (Ctrl-C to stop).")
    _stop_on_sigterm()
    stopped = threading.Event()
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()


@app.command("doctor")
def doctor(
    setup: Annotated[
        str | None,
        typer.Option(
            "--setup",
            metavar="NAME",
            help="Run repository NAME's set-up step as an implementation run would.",
        ),
    ] = None,
) -> None:
    """Check the Slack tokens and scopes, the database, the agents, the repositories and their
    set-up steps, and the model key."""
    from bot.config import get_settings
    from bot.runtime.doctor import run_checks

    console = terminal()
    if setup is not None:
        from bot.runtime.setup_check import try_setup

        _configure_logging()
        checks = [try_setup(get_settings(), setup)]
    else:
        checks = run_checks(get_settings())
    for check in checks:
        mark = "[green]ok[/]  " if check.ok else "[red]FAIL[/]"
        console.print(f"{mark} {check.name}: {check.detail}", highlight=False)
        if check.fix:
            console.print(f"      → {check.fix}", highlight=False)
    if not all(check.ok for check in checks):
        raise typer.Exit(code=1)


def _ready_desk(settings: "Settings", *, slack: bool = False, quiet: bool = False) -> "Desk":
    """Check the database, the agents folder (and Slack's answer to the bot token when
    `slack`), then migrate, load agents and say what is missing (unless `quiet`: a worker
    process started by `agentdesk serve`, which has said it already)."""
    from bot.agents.model import Severity
    from bot.runtime.build import build_desk, missing_for_model
    from bot.runtime.startup import require_agents_folder, require_database, require_slack_token
    from bot.store.db import describe_url

    require_database(settings)
    require_agents_folder(settings)
    if slack:
        require_slack_token(settings)
    desk = build_desk(settings)
    roster = desk.roster()
    if quiet:
        return desk
    errors = sum(1 for problem in roster.problems if problem.severity is Severity.ERROR)
    console = terminal()
    console.print(
        f"Database {describe_url(settings.database_url)} migrated; "
        f"{len(roster)} agents loaded from {settings.agents_dir}"
        + (f" ({errors} error(s): `agentdesk agents check`)" if errors else "")
        + "."
    )
    missing_model = missing_for_model(settings)
    if missing_model:
        console.print(f"[yellow]{missing_model}[/]")
    return desk


def _start_shell(plans_dir: Path, desk: "Desk | None" = None) -> None:
    from bot.config import get_settings
    from bot.shell import HELP, Shell

    logging.getLogger().setLevel(logging.WARNING)  # the terminal is for the conversation
    if desk is None:
        desk = _ready_desk(get_settings())
    console = terminal()
    console.print(HELP)
    Shell(desk, console, plans_dir=plans_dir).run(_prompt_lines(console))


def _prompt_lines(console: "Console") -> Iterator[str]:
    while True:
        try:
            yield console.input("[bold]you>[/] ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return


def _stop_on_sigterm() -> None:
    """SIGTERM (a deploy, `docker stop`) stops like Ctrl-C: the `finally` blocks hand work
    and leases back, and the process exits 0."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def _configure_logging() -> None:
    from bot.config import get_settings, held_secrets
    from bot.observability.logs import configure_logging
    from bot.repos.spec import RepoConfigError, parse_repo_specs

    settings = get_settings()
    tokens: list[str] = []
    with contextlib.suppress(RepoConfigError):  # doctor and start-up report a broken REPOS
        tokens = [spec.token_env for spec in parse_repo_specs(settings.repos) if spec.token_env]
    configure_logging(
        log_format=settings.log_format, secrets=held_secrets(settings, token_variables=tokens)
    )
