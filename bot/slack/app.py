"""The Bolt app: Slack's requests in, the desk behind, a worker posting replies."""

from dataclasses import dataclass

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.config import Settings
from bot.engine.desk import Desk
from bot.engine.worker import Worker
from bot.slack import inbound
from bot.slack.inbound import handle_stored
from bot.slack.listeners import register_all
from bot.slack.poster import SlackPoster
from bot.slack.services import SlackServices
from bot.slack.sessions import AgentSessions
from bot.slack.users import UserDirectory


class SlackNotConfiguredError(Exception):
    """A Slack setting needed for this mode is missing."""


def make_web_client(settings: Settings) -> WebClient:
    """A Web API client that waits out 429s (Retry-After) and retries 5xx and dropped connections."""
    if settings.slack_bot_token is None:
        raise SlackNotConfiguredError("SLACK_BOT_TOKEN is not set")
    return WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


@dataclass
class SlackApp:
    """The Bolt app with its services; `worker` must be started to post replies."""

    app: App
    services: SlackServices

    @property
    def worker(self) -> Worker:
        """The background worker running turns and posting replies."""
        return self.services.worker


def build_slack_app(settings: Settings, desk: Desk, *, socket_mode: bool = False) -> SlackApp:
    """Wire Bolt to the desk. HTTP mode needs the signing secret; Socket Mode the app token."""
    client = make_web_client(settings)
    if not socket_mode and settings.slack_signing_secret is None:
        raise SlackNotConfiguredError("SLACK_SIGNING_SECRET is not set (needed for HTTP mode)")
    app = App(
        client=client,
        signing_secret=(
            settings.slack_signing_secret.get_secret_value()
            if settings.slack_signing_secret
            else None
        ),
        process_before_response=False,
        # Bolt copies the client per request; retry handlers and base URL come along.
    )
    identity = client.auth_test()
    sessions = AgentSessions()
    poster = SlackPoster(client, desk, sessions=sessions)
    services = SlackServices(
        desk=desk,
        worker=Worker(desk, poster, inbound=lambda row: handle_stored(row, services=services)),
        users=UserDirectory(client),
        client=client,
        bot_user_id=identity.get("user_id"),
        sessions=sessions,
    )
    poster.home = services.home
    inbound.register(app, services)
    register_all(app, services)
    return SlackApp(app=app, services=services)
