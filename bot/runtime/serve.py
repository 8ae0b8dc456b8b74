"""Starting Slack: HTTP mode behind uvicorn, or Socket Mode over a websocket; and the
processes that serve no Slack request: turns (`agentdesk work`) and implementation runs
(`agentdesk work --implement`)."""

import logging
import os
import threading

import uvicorn
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.config import Settings
from bot.engine.desk import Desk
from bot.implement import implement_extra_missing, sandbox_missing
from bot.runtime.build import build_scheduler
from bot.runtime.http import build_http_app
from bot.runtime.scheduler import SchedulerService
from bot.runtime.startup import StartupError
from bot.runtime.worker_processes import WorkerProcesses, read_wakeups, report_ready
from bot.slack.app import SlackApp, SlackNotConfiguredError, build_slack_app, oauth_mode

log = logging.getLogger(__name__)


def serve_http(settings: Settings, desk: Desk, *, host: str, port: int) -> None:
    """Serve `POST /slack/events` and `GET /healthz` until stopped."""
    slack = build_slack_app(settings, desk)
    processes = WorkerProcesses(settings.worker_processes) if settings.worker_processes else None
    slack.services.processes = processes
    app = build_http_app(
        slack, desk, scheduler=_scheduler_for(settings, desk, slack), processes=processes
    )
    # log_config=None: uvicorn logs through our handlers (LOG_FORMAT, secrets masked).
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, log_config=None)


def run_worker(settings: Settings, desk: Desk, *, from_parent: bool) -> None:
    """Run agent turns and stored requests until stopped (SIGTERM, Ctrl-C, or, when started
    by `agentdesk serve`, the parent closing this process's standard input)."""
    slack = build_slack_app(settings, desk, socket_mode=True)  # no HTTP: no signing secret
    stopped = threading.Event()
    if from_parent:
        os.nice(worker_niceness(settings, desk.database_kind()))
    slack.worker.start()
    if from_parent:
        read_wakeups(slack.worker.wake, stopped.set)
        report_ready()
    try:
        stopped.wait()
    finally:
        slack.worker.stop()


def run_implementation_worker(settings: Settings, desk: Desk) -> None:
    """Claim implementation runs from the database and work them, IMPLEMENT_CONCURRENCY at
    once, posting their progress to Slack, until stopped (SIGTERM or Ctrl-C hand a running
    run back). Agent turns are left to the other processes."""
    missing = implement_extra_missing()
    if missing:
        raise StartupError(missing)
    slack = build_slack_app(settings, desk, socket_mode=True)  # no HTTP: no signing secret
    implementation = slack.services.implementation
    if implementation is None:
        raise StartupError(
            "Implementation runs post to Slack with SLACK_BOT_TOKEN, which is not set.",
            "Set SLACK_BOT_TOKEN in the environment or .env (see .env.sample).",
        )
    no_sandbox = sandbox_missing()
    if no_sandbox:
        log.warning("%s: runs here refuse commands and run no tests", no_sandbox)
    implementation.worker.start()
    log.info(
        "working implementation runs, %d at a time (IMPLEMENT_CONCURRENCY)",
        settings.implement_concurrency,
    )
    try:
        threading.Event().wait()
    finally:
        implementation.worker.stop()


def worker_niceness(settings: Settings, dialect: str) -> int:
    """WORKER_NICENESS, or its default for the database (measured with bench/ack.py: on
    PostgreSQL a nicer worker cuts the ack's p50 by a third; on SQLite it makes it worse)."""
    if settings.worker_niceness is not None:
        return settings.worker_niceness
    return 10 if dialect == "postgresql" else 0


def run_socket_mode(settings: Settings, desk: Desk) -> None:
    """Connect to Slack over Socket Mode (no public URL needed) until stopped."""
    if settings.slack_app_token is None:
        raise SlackNotConfiguredError("SLACK_APP_TOKEN is not set (needed for Socket Mode)")
    if oauth_mode(settings):
        log.warning(
            "OAuth mode over Socket Mode: workspaces already installed are served, but new "
            "installs need /slack/install, which only `agentdesk serve` (HTTP) offers"
        )
    slack = build_slack_app(settings, desk, socket_mode=True)
    slack.worker.start()
    if slack.services.implementation is not None:  # implementation runs
        slack.services.implementation.start()
    scheduler = _scheduler_for(settings, desk, slack)
    if scheduler is not None:
        scheduler.start()
    try:
        SocketModeHandler(slack.app, settings.slack_app_token.get_secret_value()).start()  # type: ignore[no-untyped-call]
    finally:
        if scheduler is not None:
            scheduler.stop()
        slack.worker.stop()
        if slack.services.implementation is not None:  # implementation runs
            slack.services.implementation.stop()


def _scheduler_for(settings: Settings, desk: Desk, slack: SlackApp) -> SchedulerService | None:
    """The in-process scheduler (not started), unless `agentdesk scheduler` runs it alone."""
    if not settings.scheduler_in_process:
        return None
    users = slack.services.users
    return build_scheduler(settings, desk, timezone_of=lambda user: users.get(user).tz)
