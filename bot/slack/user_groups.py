"""Slack user groups for sign-off rules (`APPROVERS`, CODEOWNERS teams), cached for a while."""

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.workspaces import WorkspaceNotInstalledError

log = logging.getLogger(__name__)

_TTL_SECONDS = 300.0


class UserGroups:
    """The engine's `GroupDirectory` over `usergroups.list` and `usergroups.users.list`.

    A group that can't be read (no `usergroups:read` scope, a deleted group) has no members,
    so nobody signs off through it; the failure is logged once per lookup.
    """

    def __init__(self, client_for: Callable[[str | None], WebClient]) -> None:
        self.client_for = client_for
        self._lock = threading.Lock()
        self._members: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}
        self._handles: dict[str, tuple[float, dict[str, str]]] = {}

    def members(self, *, team_id: str, group_id: str) -> frozenset[str]:
        """The user ids in a group."""
        key = (team_id, group_id)
        with self._lock:
            cached = self._members.get(key)
        if cached and time.monotonic() - cached[0] < _TTL_SECONDS:
            return cached[1]
        try:
            response = self.client_for(team_id).usergroups_users_list(usergroup=group_id)
            users = frozenset(str(u) for u in response.get("users") or [])
        except (SlackApiError, WorkspaceNotInstalledError) as error:
            log.info("could not read user group %s: %s", group_id, _reason(error))
            users = frozenset()
        with self._lock:
            self._members[key] = (time.monotonic(), users)
        return users

    def groups_by_handle(self, *, team_id: str) -> dict[str, str]:
        """Every group's id by its handle."""
        with self._lock:
            cached = self._handles.get(team_id)
        if cached and time.monotonic() - cached[0] < _TTL_SECONDS:
            return cached[1]
        try:
            response = self.client_for(team_id).usergroups_list()
            groups = {
                str(group["handle"]): str(group["id"])
                for group in response.get("usergroups") or []
                if isinstance(group, dict) and group.get("handle") and group.get("id")
            }
        except (SlackApiError, WorkspaceNotInstalledError) as error:
            log.info("could not list user groups: %s", _reason(error))
            groups = {}
        with self._lock:
            self._handles[team_id] = (time.monotonic(), groups)
        return groups


def _reason(error: Exception) -> str:
    if isinstance(error, SlackApiError):
        return str(error.response.get("error"))
    return str(error)
