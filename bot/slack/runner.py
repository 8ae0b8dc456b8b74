"""Starting Slack: HTTP mode behind uvicorn, or Socket Mode over a websocket."""

import logging

import uvicorn
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.config import Settings
from bot.engine.desk import Desk
from bot.slack.app import SlackNotConfiguredError, build_slack_app
from bot.slack.server import build_http_app

log = logging.getLogger(__name__)


def serve_http(settings: Settings, desk: Desk, *, host: str, port: int) -> None:
    """Serve `POST /slack/events` and `GET /healthz` until stopped."""
    slack = build_slack_app(settings, desk)
    uvicorn.run(
        build_http_app(slack, desk), host=host, port=port, log_level="info", access_log=False
    )


def run_socket_mode(settings: Settings, desk: Desk) -> None:
    """Connect to Slack over Socket Mode (no public URL needed) until stopped."""
    if settings.slack_app_token is None:
        raise SlackNotConfiguredError("SLACK_APP_TOKEN is not set (needed for Socket Mode)")
    slack = build_slack_app(settings, desk, socket_mode=True)
    slack.worker.start()
    try:
        SocketModeHandler(slack.app, settings.slack_app_token.get_secret_value()).start()  # type: ignore[no-untyped-call]
    finally:
        slack.worker.stop()
