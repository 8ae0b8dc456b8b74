"""Slack's native Stop on an agent session (`agent_session_stopped`): cancel like Cancel."""

import logging
from typing import Any

from slack_sdk import WebClient

from bot.slack.services import SlackServices
from bot.slack.sessions import ACTIVE

log = logging.getLogger(__name__)


def handle_session_stopped(
    *, event: dict[str, Any], team_id: str, client: WebClient, services: SlackServices
) -> None:
    """Stop the thread's work exactly as the Cancel button does, then leave `processing`
    (Slack does not change the session's status itself)."""
    conversation = services.desk.find_conversation(
        team_id=team_id, channel_id=event["channel"], thread_ts=event["thread_ts"]
    )
    if conversation is None or conversation.id is None:
        log.info("Stop pressed on a thread agentdesk does not work in")
        return
    who = services.users.get(event["user"], team_id=team_id).name if event.get("user") else None
    outcome = services.desk.cancel(conversation.id, by=who)
    if outcome:
        services.worker.kick()  # the notice goes out through the outbox
    else:
        log.info("Stop changed nothing: %s", outcome.note)
    services.sessions.show(client, thread=conversation, status=ACTIVE)
