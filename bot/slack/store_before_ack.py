"""Store before the ack: every request agentdesk acts on is committed before Slack hears back.

A Bolt middleware (after Bolt's own signature check, self-event filter and url_verification)
stores each event, command and click in the inbox, then acknowledges. When the database
can't take it, Slack gets a 503 (HTTP) or no ack (Socket Mode) and delivers it again. The
slow part — people's names, thread history, the desk — runs afterwards in the worker, from
the stored row (`handle_stored`).
"""

import logging
import threading
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from sqlalchemy.exc import SQLAlchemyError

from bot.engine.inbox import MAX_ATTEMPTS
from bot.slack.listeners.actions.buttons import handle_action
from bot.slack.listeners.commands.feature import file_stored_command
from bot.slack.listeners.events.agent_sessions import handle_session_stopped
from bot.slack.listeners.events.home_opened import handle_home_opened
from bot.slack.listeners.events.messages import apologise, handle_message_event
from bot.slack.payloads import InvalidPayloadError, read_request
from bot.slack.render import IMPLEMENT
from bot.slack.services import SlackServices
from bot.store.models import InboundEvent

log = logging.getLogger(__name__)

# Events Bolt's own listeners handle in OAuth mode (an uninstall deletes the workspace's
# tokens); with one token there is nothing to clean up.
BOLT_HANDLES = frozenset({"app_uninstalled", "tokens_revoked"})

UNAVAILABLE = BoltResponse(status=503, body="agentdesk can't store requests right now")


def register(app: App, services: SlackServices) -> None:
    """Install the store-before-ack middleware."""

    @app.middleware
    def store_before_ack(
        req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        try:
            wanted = read_request(req.body)
        except InvalidPayloadError as problem:
            log.info("refused a malformed request: %s", problem)
            return BoltResponse(status=400, body="invalid payload")
        if wanted is None:
            event_type = (req.body.get("event") or {}).get("type")
            bolts = event_type in BOLT_HANDLES and services.workspaces.many
            if req.body.get("type") == "event_callback" and not bolts:
                return BoltResponse(status=200, body="")  # an event nobody acts on
            return next()
        if wanted.kind == "action" and _is_implementation_click(req.body):
            return next()  # its Bolt listener starts a durable implementation run at once
        stored = {
            "payload": req.body,
            "team_id": req.context.team_id,
            "bot_user_id": req.context.bot_user_id,
            "bot_id": req.context.bot_id,
        }
        try:
            services.desk.store_request(
                kind=wanted.kind, key=wanted.key, body=stored, thread_key=wanted.thread_key
            )
        except SQLAlchemyError:
            log.exception("could not store %s; Slack will deliver it again", wanted.key)
            return UNAVAILABLE
        services.wake()
        if wanted.kind == "command":
            return next()  # the ack answers subcommands (help, status…) at once
        return BoltResponse(status=200, body="")


_apologised: dict[str, None] = {}  # insertion-ordered, bounded
_apologised_lock = threading.Lock()


def _first_apology(key: str) -> bool:
    with _apologised_lock:
        first = key not in _apologised
        _apologised[key] = None
        while len(_apologised) > 1000:
            _apologised.pop(next(iter(_apologised)))
        return first


def _is_implementation_click(body: dict[str, Any]) -> bool:
    action_id = str((body.get("actions") or [{}])[0].get("action_id") or "")
    return action_id.startswith(IMPLEMENT)


def handle_stored(row: InboundEvent, *, services: SlackServices) -> None:
    """Take in one stored request (the worker calls this after the ack)."""
    payload: dict[str, Any] = row.body["payload"]
    team_id = row.body.get("team_id") or payload.get("team_id")
    client = services.client_for(str(team_id or "") or None)
    if row.kind == "event" and payload["event"].get("type") == "agent_session_stopped":
        handle_session_stopped(
            event=payload["event"], team_id=str(team_id or ""), client=client, services=services
        )
    elif row.kind == "event" and payload["event"].get("type") == "app_home_opened":
        handle_home_opened(
            event=payload["event"], team_id=str(team_id or ""), client=client, services=services
        )
    elif row.kind == "event":
        event = payload["event"]
        try:
            handle_message_event(
                event=event,
                team_id=str(team_id or ""),
                bot_user_id=row.body.get("bot_user_id"),
                bot_id=row.body.get("bot_id"),
                client=client,
                services=services,
            )
        except Exception:
            # The last try: say so rather than stay silent (once per message: a mention
            # arrives as two events).
            if row.attempts >= MAX_ATTEMPTS and _first_apology(f"{event['channel']}:{event['ts']}"):
                apologise(event, bot_user_id=services.bot_user_id, client=client)
            raise
    elif row.kind == "command":
        file_stored_command(
            command=payload,
            team_id=team_id,
            client=client,
            services=services,
            retrying=row.attempts > 1,
        )
    elif row.kind == "action":
        handle_action(payload=payload, client=client, services=services)
