"""People's names and time zones from `users.info`, cached."""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.workspaces import WorkspaceNotInstalledError

_TTL_SECONDS = 3600.0


@dataclass(frozen=True)
class Person:
    """What agentdesk needs to know about a Slack user."""

    id: str
    name: str
    tz: str | None = None
    is_bot: bool = False


class UserDirectory:
    """A small cache over `users.info`; a failed lookup falls back to the user ID."""

    def __init__(self, client_for: Callable[[str | None], WebClient]) -> None:
        self.client_for = client_for
        self._lock = threading.Lock()
        self._people: dict[str, tuple[float, Person]] = {}
        self._teams: dict[str, str] = {}  # the workspace each person was last seen in

    def get(self, user_id: str, *, team_id: str | None = None) -> Person:
        """The person, from the cache when fresh (looked up with their workspace's token)."""
        now = time.monotonic()
        with self._lock:
            cached = self._people.get(user_id)
            if team_id:
                self._teams[user_id] = team_id
            team_id = team_id or self._teams.get(user_id)
        if cached and now - cached[0] < _TTL_SECONDS:
            return cached[1]
        try:
            user = self.client_for(team_id).users_info(user=user_id)["user"]
        except (SlackApiError, WorkspaceNotInstalledError, KeyError, TypeError):
            return cached[1] if cached else Person(id=user_id, name=user_id)
        profile = user.get("profile") or {}
        name = (
            profile.get("display_name")
            or profile.get("real_name")
            or user.get("real_name")
            or user.get("name")
            or user_id
        )
        person = Person(id=user_id, name=name, tz=user.get("tz"), is_bot=bool(user.get("is_bot")))
        with self._lock:
            self._people[user_id] = (now, person)
        return person
