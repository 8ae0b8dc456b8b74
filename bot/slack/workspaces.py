"""The Web API client for each workspace: the one SLACK_BOT_TOKEN, or in OAuth mode the bot
token each install left in the installation store (rotated when it has a refresh token).

Bolt finds the token for the requests it answers itself; everything that runs after the ack
(the worker, the poster, the scheduler's digests) asks here.
"""

import threading

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.oauth.installation_store import InstallationStore
from slack_sdk.oauth.token_rotation import TokenRotator

from bot.config import Settings
from bot.slack.api_errors import ErrorCounter

ROTATE_MINUTES_BEFORE_EXPIRY = 120  # Bolt's default for the requests it authorizes


class WorkspaceNotInstalledError(Exception):
    """No install (or token) is known for this workspace."""


def web_client(settings: Settings, token: str | None) -> WebClient:
    """A Web API client at SLACK_API_URL that waits out 429s and retries 5xx and dropped
    connections."""
    return WebClient(
        token=token,
        base_url=settings.slack_api_url,
        retry_handlers=[
            ErrorCounter(),  # first: it sees every response, counts failures, never retries
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


class Workspaces:
    """Hands out the client for a workspace."""

    def __init__(
        self,
        settings: Settings,
        *,
        default: WebClient | None,
        installations: InstallationStore | None = None,
    ) -> None:
        self.settings = settings
        self.default = default
        self.installations = installations
        self._rotator = (
            TokenRotator(
                client_id=settings.slack_client_id,
                client_secret=settings.slack_client_secret.get_secret_value(),
                client=web_client(settings, None),
            )
            if installations is not None
            and settings.slack_client_id
            and settings.slack_client_secret is not None
            else None
        )
        self._lock = threading.Lock()
        self._clients: dict[str, WebClient] = {}

    @property
    def many(self) -> bool:
        """Whether workspaces are installed through OAuth (each with its own token)."""
        return self.installations is not None

    def client_for(self, team_id: str | None) -> WebClient:
        """The client for a workspace (the single token's client outside OAuth mode)."""
        if self.installations is None or not team_id:
            if self.default is None:
                raise WorkspaceNotInstalledError(f"no token for workspace {team_id or '?'}")
            return self.default
        bot = self.installations.find_bot(enterprise_id=None, team_id=team_id)
        if bot is None or not bot.bot_token:
            raise WorkspaceNotInstalledError(f"agentdesk is not installed in {team_id}")
        if self._rotator is not None and bot.bot_refresh_token:
            refreshed = self._rotator.perform_bot_token_rotation(
                bot=bot, minutes_before_expiration=ROTATE_MINUTES_BEFORE_EXPIRY
            )
            if refreshed is not None:
                self.installations.save_bot(refreshed)
                bot = refreshed
        token = str(bot.bot_token)
        with self._lock:
            client = self._clients.get(token)
            if client is None:
                client = self._clients[token] = web_client(self.settings, token)
            return client
