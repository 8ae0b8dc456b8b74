"""`@agentdesk implement [REPO]` in a thread. (A reply after a pull request goes through the
desk's intake like any message; the implementation service takes it there.)"""

import logging
import re

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.render import implement_actions
from bot.slack.services import SlackServices

log = logging.getLogger(__name__)

_IMPLEMENT = re.compile(r"^\s*implement(?:\s+([a-z0-9][a-z0-9_-]{0,39}))?\s*[.!]?\s*$", re.I)


def take_implementation_message(
    *,
    team_id: str,
    channel_id: str,
    thread_ts: str | None,
    ts: str,
    user_id: str,
    user_name: str,
    text: str,
    mentioned: bool,
    services: SlackServices,
    client: WebClient,
) -> bool:
    """Handle `@agentdesk implement` in a thread; False for any other message."""
    implementation = services.implementation
    if implementation is None or not thread_ts or thread_ts == ts:
        return False
    keys = (f"msg:{team_id}:{channel_id}:{ts}",)
    command = _IMPLEMENT.match(text)
    if command and mentioned:
        conversation = services.desk.find_conversation(
            team_id=team_id, channel_id=channel_id, thread_ts=thread_ts
        )
        if conversation is None or conversation.id is None:
            return False
        outcome = implementation.begin(
            thread=conversation,
            user_id=user_id,
            user_name=user_name,
            repo=command.group(1),
            event_keys=keys,
        )
        if not outcome.started and not outcome.duplicate:
            blocks = (
                [
                    {"type": "section", "text": {"type": "mrkdwn", "text": "Which repository?"}},
                    implement_actions(conversation.id, outcome.repo_choices),
                ]
                if outcome.repo_choices
                else None
            )
            _tell(client, channel_id, thread_ts, user_id, outcome.message, blocks)
        return True
    return False


def _tell(
    client: WebClient,
    channel: str,
    thread_ts: str,
    user: str,
    text: str,
    blocks: list[dict[str, object]] | None,
) -> None:
    try:
        client.chat_postEphemeral(
            channel=channel, user=user, thread_ts=thread_ts, text=text, blocks=blocks
        )
    except SlackApiError as error:
        log.info("could not answer the implement request: %s", error.response.get("error"))
