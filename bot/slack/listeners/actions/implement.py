"""Implementation-run buttons: Implement (and which repository), Stop, Retry."""

import logging
import re
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.implement import StartOutcome
from bot.slack.implementation import SlackImplementation, build_slack_implementation
from bot.slack.listeners.actions.buttons import _settle
from bot.slack.render import (
    IMPLEMENT,
    IMPLEMENT_REPO,
    IMPLEMENT_RETRY,
    IMPLEMENT_STOP,
    implement_actions,
    read_action_value,
)
from bot.slack.services import SlackServices

log = logging.getLogger(__name__)


def register(app: App, services: SlackServices) -> None:
    """Build the app's implementation runs (once) and listen to their buttons."""
    if services.implementation is None:
        if services.workspaces.default is None:
            # OAuth mode without SLACK_BOT_TOKEN: runs post with one workspace's client for now.
            log.warning("implementation runs need SLACK_BOT_TOKEN; they are off in this process")
            return
        services.implementation = build_slack_implementation(
            desk=services.desk, poster=services.worker.poster, client=services.workspaces.default
        )
    implementation: SlackImplementation = services.implementation

    def implement(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        data = read_action_value(action.get("value"))
        conversation = services.desk.conversation(int(data["c"])) if data else None
        if conversation is None:
            return
        user_id = body["user"]["id"]
        outcome = implementation.begin(
            thread=conversation,
            user_id=user_id,
            user_name=services.users.get(user_id).name,
            repo=str(data["r"]) if data.get("r") else None,
            event_keys=(f"action:{action.get('action_ts')}:implement:{user_id}",),
        )
        answer(outcome, respond=respond, conversation_id=int(data["c"]))

    def stop(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        data = read_action_value(action.get("value"))
        person = services.users.get(body["user"]["id"])
        if not data:
            return
        if implementation.service.stop_implementation(
            conversation_id=int(data["c"]), by=person.name
        ):
            _settle(client, body, f"Stopping (asked by {person.name})…")
            services.worker.kick()
        else:
            respond(
                text="This run has ended already.",
                response_type="ephemeral",
                replace_original=False,
            )

    def retry(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        data = read_action_value(action.get("value"))
        if not data:
            return
        user_id = body["user"]["id"]
        outcome = implementation.service.retry_implementation(
            conversation_id=int(data["c"]), user_id=user_id
        )
        if outcome.started:
            _settle(client, body, f"Retrying (asked by {services.users.get(user_id).name})…")
            implementation.queued(int(data["c"]))
            services.worker.kick()
        else:
            answer(outcome, respond=respond, conversation_id=int(data["c"]))

    app.action(re.compile(rf"^{IMPLEMENT}$"))(implement)
    app.action(re.compile(rf"^{IMPLEMENT_REPO}_\d+$"))(implement)
    app.action(IMPLEMENT_STOP)(stop)
    app.action(IMPLEMENT_RETRY)(retry)


def answer(outcome: StartOutcome, *, respond: Respond, conversation_id: int) -> None:
    """Tell only the person who asked why a run did not start, or offer the repositories."""
    if outcome.started or outcome.duplicate:
        return
    if outcome.repo_choices:
        respond(
            text="Which repository should I implement this in?",
            blocks=[
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": "Which repository should I implement in?"},
                },
                implement_actions(conversation_id, outcome.repo_choices),
            ],
            response_type="ephemeral",
            replace_original=False,
        )
        return
    respond(text=outcome.message, response_type="ephemeral", replace_original=False)
