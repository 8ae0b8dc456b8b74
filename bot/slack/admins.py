"""Who may change what: workspace admins and owners, the people in ADMIN_USER_IDS, and for
one channel's settings also the channel's creator."""

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import Settings, split_ids

log = logging.getLogger(__name__)


def is_admin(*, client: WebClient, settings: Settings, user_id: str) -> bool:
    """An agentdesk admin: listed in ADMIN_USER_IDS, or an admin/owner of the workspace."""
    if user_id in split_ids(settings.admin_user_ids):
        return True
    try:
        user = client.users_info(user=user_id)["user"]
    except (SlackApiError, KeyError, TypeError) as error:
        log.info("could not tell whether %s is an admin: %s", user_id, error)
        return False
    return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))


def may_configure_channel(
    *, client: WebClient, settings: Settings, user_id: str, channel_id: str
) -> bool:
    """Whether this person may change a channel's settings (admins, or its creator)."""
    if is_admin(client=client, settings=settings, user_id=user_id):
        return True
    try:
        channel = client.conversations_info(channel=channel_id)["channel"]
    except (SlackApiError, KeyError, TypeError) as error:
        log.info("could not read who created %s: %s", channel_id, error)
        return False
    return bool(channel.get("creator")) and channel.get("creator") == user_id
