"""The Bolt app: Slack's requests in, the desk behind, a worker posting replies."""

import logging
from dataclasses import dataclass

from slack_bolt import App
from slack_bolt.authorization.authorize import InstallationStoreAuthorize
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy.engine import Engine

from bot.config import Settings
from bot.engine.desk import Desk
from bot.engine.worker import Worker
from bot.slack import store_before_ack
from bot.slack.listeners import register_all
from bot.slack.manifest import BOT_SCOPES
from bot.slack.poster import SlackPoster
from bot.slack.services import SlackServices
from bot.slack.sessions import AgentSessions
from bot.slack.store_before_ack import handle_stored
from bot.slack.users import UserDirectory
from bot.slack.workspaces import Workspaces, web_client

OAUTH_STATE_SECONDS = 600  # how long an install link stays valid


class _QuietTokenWarning(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN "will be unused" whenever we hand it our own client
    (which carries that very token); that warning is noise on every start."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


logging.getLogger("slack_bolt.App").addFilter(_QuietTokenWarning())
log = logging.getLogger(__name__)


class SlackNotConfiguredError(Exception):
    """A Slack setting needed for this mode is missing."""


def make_web_client(settings: Settings) -> WebClient:
    """The single workspace's client (SLACK_BOT_TOKEN): waits out 429s (Retry-After) and
    retries 5xx and dropped connections."""
    if settings.slack_bot_token is None:
        raise SlackNotConfiguredError("SLACK_BOT_TOKEN is not set")
    return web_client(settings, settings.slack_bot_token.get_secret_value())


def oauth_mode(settings: Settings) -> bool:
    """Whether any workspace may install the app (SLACK_CLIENT_ID and SLACK_CLIENT_SECRET)."""
    return bool(settings.slack_client_id) and settings.slack_client_secret is not None


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
    """Wire Bolt to the desk. HTTP mode needs the signing secret; Socket Mode the app token.

    With SLACK_CLIENT_ID and SLACK_CLIENT_SECRET any workspace installs the app through
    `/slack/install` (Bolt's OAuth flow, slack_sdk's SQLAlchemy stores on our database) and
    each is served with its own token; otherwise SLACK_BOT_TOKEN serves one workspace.
    """
    if not socket_mode and settings.slack_signing_secret is None:
        raise SlackNotConfiguredError("SLACK_SIGNING_SECRET is not set (needed for HTTP mode)")
    signing_secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    )
    if oauth_mode(settings):
        app, workspaces = _oauth_app(settings, desk, signing_secret=signing_secret)
    else:
        client = make_web_client(settings)
        app = App(
            client=client,
            signing_secret=signing_secret,
            process_before_response=False,
            # Bolt copies the client per request; retry handlers and base URL come along.
        )
        workspaces = Workspaces(settings, default=client)
    bot_user_id = (
        workspaces.default.auth_test().get("user_id") if workspaces.default is not None else None
    )
    sessions = AgentSessions()
    poster = SlackPoster(workspaces, desk, sessions=sessions)
    services = SlackServices(
        desk=desk,
        worker=Worker(desk, poster, inbound=lambda row: handle_stored(row, services=services)),
        users=UserDirectory(workspaces.client_for),
        workspaces=workspaces,
        bot_user_id=bot_user_id,
        sessions=sessions,
    )
    poster.home = services.home
    store_before_ack.register(app, services)
    register_all(app, services)
    return SlackApp(app=app, services=services)


def _oauth_app(
    settings: Settings, desk: Desk, *, signing_secret: str | None
) -> tuple[App, Workspaces]:
    """Bolt with its OAuth flow; installs and state live in our database (migration 0008)."""
    assert settings.slack_client_id and settings.slack_client_secret is not None
    installations = SQLAlchemyInstallationStore(
        client_id=settings.slack_client_id, engine=desk.engine
    )
    client = web_client(settings, None)  # oauth.v2.access too goes to SLACK_API_URL
    oauth_settings = OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        scopes=list(BOT_SCOPES),
        installation_store=installations,
        state_store=SQLAlchemyOAuthStateStore(
            expiration_seconds=OAUTH_STATE_SECONDS, engine=desk.engine
        ),
    )
    # OAuthSettings' own authorizer rotates tokens through a client at slack.com; this one
    # is the same, with our client (SLACK_API_URL, retries).
    oauth_settings.authorize = InstallationStoreAuthorize(
        logger=logging.getLogger("slack_bolt.authorize"),
        client_id=oauth_settings.client_id,
        client_secret=oauth_settings.client_secret,
        token_rotation_expiration_minutes=oauth_settings.token_rotation_expiration_minutes,
        installation_store=installations,
        client=client,
    )
    app = App(
        client=client,
        signing_secret=signing_secret,
        process_before_response=False,
        oauth_settings=oauth_settings,
    )
    app.enable_token_revocation_listeners()  # uninstalls delete the workspace's tokens
    if settings.slack_bot_token is not None:  # the workspace served before OAuth was set up
        _keep_single_install(settings, make_web_client(settings), installations)
    return app, build_workspaces(settings, desk.engine)


def _app_of_bot(client: WebClient, bot_id: str | None) -> str | None:
    """The app a bot belongs to, from `bots.info`; None when Slack can't say."""
    if not bot_id:
        return None
    try:
        bot = client.bots_info(bot=bot_id).get("bot") or {}
    except SlackApiError as error:
        log.info("bots.info failed: %s", error.response.get("error"))
        return None
    app_id = bot.get("app_id") if isinstance(bot, dict) else None
    return str(app_id) if app_id else None


def build_workspaces(settings: Settings, engine: Engine) -> Workspaces:
    """Each workspace's client outside Bolt (the worker, a scheduler of its own)."""
    default = make_web_client(settings) if settings.slack_bot_token is not None else None
    if not oauth_mode(settings):
        return Workspaces(settings, default=default)
    assert settings.slack_client_id
    installations = SQLAlchemyInstallationStore(client_id=settings.slack_client_id, engine=engine)
    return Workspaces(settings, default=default, installations=installations)


def _keep_single_install(
    settings: Settings, client: WebClient, installations: SQLAlchemyInstallationStore
) -> None:
    """Store SLACK_BOT_TOKEN's workspace as an install, so turning OAuth on keeps it served.

    `auth.test` may leave out `app_id` (optional in Slack's response types); `bots.info`
    names the bot's app. When neither can, the install is stored without it: Bolt finds a
    workspace's bot by team, never by app."""
    identity = client.auth_test()
    team_id = identity.get("team_id")
    if not team_id or installations.find_bot(enterprise_id=None, team_id=team_id):
        return
    app_id = identity.get("app_id") or _app_of_bot(client, identity.get("bot_id"))
    if app_id is None:
        log.warning(
            "SLACK_BOT_TOKEN's app is unknown (auth.test has no app_id and bots.info failed); "
            "its workspace is stored as an install without it"
        )
    assert settings.slack_bot_token is not None
    installations.save(
        Installation(
            app_id=app_id or "",
            team_id=team_id,
            team_name=identity.get("team"),
            bot_token=settings.slack_bot_token.get_secret_value(),
            bot_id=identity.get("bot_id"),
            bot_user_id=identity.get("user_id"),
            bot_scopes=str(identity.headers.get("x-oauth-scopes") or ""),
            user_id=identity.get("user_id") or "",
        )
    )
