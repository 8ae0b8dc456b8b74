"""Buttons: choose an agent, answer a question, cancel, retry, hand over, rate a plan, sign
off a requirement card.

A click is stored before Slack gets its ack (see `bot/slack/store_before_ack.py`); `handle_action`
runs it afterwards from the stored payload. A click that no longer fits the conversation (a
stale button) changes nothing and gets a short answer only the clicker sees.
"""

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.engine.actions import Outcome
from bot.engine.inbound import InboundMessage, Source
from bot.slack.render import (
    ANSWER,
    APPROVE,
    CANCEL,
    CHOOSE_AGENT,
    FEEDBACK,
    HANDOFF,
    RETRY,
    read_action_value,
)
from bot.slack.services import SlackServices
from bot.slack.users import Person

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Click:
    """One stored click, with what its handler needs."""

    body: dict[str, Any]
    action: dict[str, Any]
    client: WebClient
    respond: Respond
    services: SlackServices

    def value(self) -> dict[str, Any]:
        """The data agentdesk put in the button (or the chosen menu option)."""
        chosen = self.action.get("selected_option") or {}
        return read_action_value(chosen.get("value") or self.action.get("value"))

    def clicker(self) -> Person:
        """Who clicked, looked up in their own workspace."""
        user = self.body["user"]
        team_id = (self.body.get("team") or {}).get("id") or user.get("team_id")
        return self.services.users.get(user["id"], team_id=team_id)

    def settle(self, outcome: Outcome, note: str | None) -> None:
        """Replace the buttons with `note` when the click changed something (and wake the
        worker); else tell the clicker why not, only them."""
        if outcome:
            if note:
                _settle(self.client, self.body, note)
            self.services.worker.kick()
        elif outcome.note and self.body.get("response_url"):
            self.respond(text=outcome.note, response_type="ephemeral", replace_original=False)


def handle_action(*, payload: dict[str, Any], client: WebClient, services: SlackServices) -> None:
    """Carry out a stored click."""
    action = payload["actions"][0]
    action_id = str(action.get("action_id") or "")
    click = Click(
        body=payload,
        action=action,
        client=client,
        respond=Respond(response_url=payload.get("response_url")),
        services=services,
    )
    for prefix, handler in _HANDLERS:
        if re.fullmatch(rf"{prefix}(?:_\d+)?", action_id):
            try:
                handler(click)
            except (ValueError, KeyError, TypeError):
                log.info("ignoring a click with a malformed value on %s", action_id)
            return
    log.info("ignoring a click on %s", action_id)


def _choose(click: Click) -> None:
    if data := click.value():
        person = click.clicker()
        outcome = click.services.desk.choose_agent(int(data["c"]), str(data["a"]), by=person.name)
        click.settle(outcome, f"*{data['a']}* takes this (chosen by {person.name}).")


def _handoff(click: Click) -> None:
    if data := click.value():
        outcome = click.services.desk.choose_agent(
            int(data["c"]), str(data["a"]), by=click.clicker().name, hand_over=True
        )
        click.settle(outcome, None)


def _cancel(click: Click) -> None:
    if data := click.value():
        person = click.clicker()
        outcome = click.services.desk.cancel(int(data["c"]), by=person.name)
        click.settle(outcome, f"Cancelled by {person.name}.")


def _retry(click: Click) -> None:
    if data := click.value():
        outcome = click.services.desk.retry(int(data["c"]))
        click.settle(outcome, f"Retrying (asked by {click.clicker().name})…")


def _answer_question(click: Click) -> None:
    data, body, action, services = click.value(), click.body, click.action, click.services
    conversation = services.desk.conversation(int(data["c"])) if data else None
    if conversation is None:
        return
    user_id = body["user"]["id"]
    person = click.clicker()
    action_ts = str(action.get("action_ts") or body.get("trigger_id"))
    # One answer per person and button: a double click must not start a second turn.
    message_ts = (body.get("container") or {}).get("message_ts") or action_ts
    button = f"{conversation.channel_id}:{action.get('block_id')}:{action.get('action_id')}"
    intake = services.submit(
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
            answers_question=True,
        ),
        signal_ts=conversation.thread_ts,
    )
    if intake.refused and body.get("response_url"):
        click.respond(text=intake.refused, response_type="ephemeral", replace_original=False)


def _approve(click: Click) -> None:
    data = click.value()
    if not data:
        return
    person = click.clicker()
    version = data.get("v")
    outcome = click.services.desk.approve(
        int(data["c"]),
        version=int(version) if version is not None else None,
        user_id=person.id,
        user_name=person.name,
        directory=click.services.groups,
    )
    click.settle(outcome, None)


def _feedback(click: Click) -> None:
    data = click.value()
    if not data:
        return
    click.services.desk.record_feedback(
        int(data["c"]), message_id=data.get("m"), rating=str(data["v"]), by=click.body["user"]["id"]
    )
    click.respond(
        text="Thanks, noted."
        if data["v"] == "up"
        else "Thanks. Reply in the thread with what's missing and I'll revise it.",
        response_type="ephemeral",
        replace_original=False,
    )


_HANDLERS: tuple[tuple[str, Callable[[Click], None]], ...] = (
    (CHOOSE_AGENT, _choose),
    (ANSWER, _answer_question),
    (CANCEL, _cancel),
    (RETRY, _retry),
    (HANDOFF, _handoff),
    (FEEDBACK, _feedback),
    (APPROVE, _approve),
)


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
