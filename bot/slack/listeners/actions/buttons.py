"""Buttons: choose an agent, answer a question, cancel, retry, hand over, rate a plan."""

import logging
import re
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.engine.inbound import InboundMessage, Source
from bot.slack.render import (
    ANSWER,
    CANCEL,
    CHOOSE_AGENT,
    FEEDBACK,
    HANDOFF,
    RETRY,
    read_action_value,
)
from bot.slack.services import SlackServices

log = logging.getLogger(__name__)


def _pattern(action_id: str) -> re.Pattern[str]:
    return re.compile(rf"^{action_id}(?:_\d+)?$")


def register(app: App, services: SlackServices) -> None:
    """Every agentdesk button and menu."""

    def choose(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        data = read_action_value(action.get("value"))
        person = services.users.get(body["user"]["id"])
        if data and services.desk.choose_agent(int(data["c"]), str(data["a"]), by=person.name):
            _settle(client, body, f"*{data['a']}* takes this (chosen by {person.name}).")
            services.worker.kick()

    def answer(
        ack: Ack,
        body: dict[str, Any],
        action: dict[str, Any],
        context: BoltContext,
        client: WebClient,
    ) -> None:
        ack()
        data = read_action_value(action.get("value"))
        conversation = services.desk.conversation(int(data["c"])) if data else None
        if conversation is None:
            return
        user_id = body["user"]["id"]
        person = services.users.get(user_id)
        action_ts = str(action.get("action_ts") or body.get("trigger_id"))
        # One answer per person and button: a double click must not start a second turn.
        message_ts = (body.get("container") or {}).get("message_ts") or action_ts
        button = f"{conversation.channel_id}:{action.get('block_id')}:{action.get('action_id')}"
        services.submit(
            InboundMessage(
                team_id=conversation.team_id,
                channel_id=conversation.channel_id,
                thread_ts=conversation.thread_ts,
                ts=action_ts,
                user_id=user_id,
                user_name=person.name,
                text=f"Answer to question {data['q']}: {data['v']}",
                source=Source.THREAD,
                event_keys=(f"action:{message_ts}:{button}:{user_id}",),
                start_conversation=False,
            ),
            signal_ts=conversation.thread_ts,
        )

    def cancel(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        data = read_action_value(action.get("value"))
        person = services.users.get(body["user"]["id"])
        if data and services.desk.cancel(int(data["c"]), by=person.name):
            _settle(client, body, f"Cancelled by {person.name}.")
            services.worker.kick()

    def retry(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        data = read_action_value(action.get("value"))
        person = services.users.get(body["user"]["id"])
        if data and services.desk.retry(int(data["c"])):
            _settle(client, body, f"Retrying (asked by {person.name})…")
            services.worker.kick()

    def handoff(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        data = read_action_value((action.get("selected_option") or {}).get("value"))
        person = services.users.get(body["user"]["id"])
        if data and services.desk.choose_agent(int(data["c"]), str(data["a"]), by=person.name):
            services.worker.kick()

    def feedback(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        data = read_action_value(action.get("value"))
        if not data:
            return
        services.desk.record_feedback(
            int(data["c"]), message_id=data.get("m"), rating=str(data["v"]), by=body["user"]["id"]
        )
        respond(
            text="Thanks, noted."
            if data["v"] == "up"
            else "Thanks. Reply in the thread with what's missing and I'll revise it.",
            response_type="ephemeral",
            replace_original=False,
        )

    app.action(_pattern(CHOOSE_AGENT))(choose)
    app.action(_pattern(ANSWER))(answer)
    app.action(_pattern(CANCEL))(cancel)
    app.action(_pattern(RETRY))(retry)
    app.action(HANDOFF)(handoff)
    app.action(_pattern(FEEDBACK))(feedback)


def _settle(client: WebClient, body: dict[str, Any], note: str) -> None:
    """Replace a message's buttons with a note saying what was done."""
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    if not channel or not message.get("ts"):
        return
    blocks = [b for b in message.get("blocks") or [] if b.get("type") != "actions"]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    try:
        client.chat_update(
            channel=channel, ts=message["ts"], blocks=blocks, text=message.get("text") or note
        )
    except SlackApiError as error:
        log.info("could not update the buttons: %s", error.response.get("error"))
