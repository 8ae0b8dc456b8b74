"""What Slack sends, checked at the edge: the fields each listener uses, with their types.

`read_request` sorts a verified request body into one to store (an event worth taking in, a
slash command, a click), one to let through untouched (url_verification, events agentdesk
does not act on), or garbage (`InvalidPayloadError`: answered 400, never stored or acted on).
"""

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

_TS = r"^\d{1,12}\.\d{1,9}$"
_ID = r"^[A-Z0-9][A-Za-z0-9_.-]{0,40}$"

# Message subtypes that are people (or allowed bots) talking, and edits.
SPOKEN_SUBTYPES = frozenset({"file_share", "thread_broadcast", "bot_message"})
EDITED = "message_changed"


class InvalidPayloadError(ValueError):
    """A verified request whose shape is not what Slack sends."""


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class EditedMessage(_Loose):
    """The new version of an edited message."""

    ts: str = Field(pattern=_TS)
    user: str | None = Field(default=None, pattern=_ID)
    text: str = ""
    thread_ts: str | None = Field(default=None, pattern=_TS)
    bot_id: str | None = None


class MessageEvent(_Loose):
    """`message` and `app_mention` events, as far as agentdesk reads them."""

    type: Literal["message", "app_mention"]
    channel: str = Field(pattern=_ID)
    ts: str = Field(pattern=_TS)
    subtype: str | None = None
    user: str | None = Field(default=None, pattern=_ID)
    text: str = ""
    thread_ts: str | None = Field(default=None, pattern=_TS)
    channel_type: str | None = None
    bot_id: str | None = None
    message: EditedMessage | None = None


class SessionStopped(_Loose):
    """`agent_session_stopped`: someone pressed Stop on a thread's agent session."""

    type: Literal["agent_session_stopped"]
    channel: str = Field(pattern=_ID)
    thread_ts: str = Field(pattern=_TS)
    user: str | None = Field(default=None, pattern=_ID)
    streaming_message_ts: list[str] = Field(default_factory=list)


class HomeOpened(_Loose):
    """`app_home_opened`: someone opened the app's Home or Messages tab."""

    type: Literal["app_home_opened"]
    user: str = Field(pattern=_ID)
    tab: str = Field(min_length=1, max_length=40)
    channel: str | None = Field(default=None, pattern=_ID)


class Authorization(_Loose):
    """One installation an event is for (Bolt reads the first to authorize)."""

    team_id: str | None = Field(default=None, pattern=_ID)
    user_id: str | None = Field(default=None, pattern=_ID)
    enterprise_id: str | None = Field(default=None, pattern=_ID)
    is_bot: bool | None = None
    is_enterprise_install: bool | None = None


class EventEnvelope(_Loose):
    """An `event_callback` envelope."""

    type: Literal["event_callback"]
    event_id: str = Field(min_length=1, max_length=100)
    team_id: str | None = Field(default=None, pattern=_ID)
    api_app_id: str | None = Field(default=None, pattern=_ID)
    enterprise_id: str | None = Field(default=None, pattern=_ID)
    authorizations: list[Authorization] | None = None
    event: dict[str, Any]


class SlashCommand(_Loose):
    """A slash command's form fields."""

    command: str = Field(min_length=1)
    user_id: str = Field(pattern=_ID)
    channel_id: str = Field(pattern=_ID)
    team_id: str | None = Field(default=None, pattern=_ID)
    trigger_id: str = Field(min_length=1, max_length=200)
    text: str = ""
    response_url: str | None = None


class ActionUser(_Loose):
    """Who clicked."""

    id: str = Field(pattern=_ID)


class Named(_Loose):
    """A team, enterprise or channel, as interactivity payloads name them."""

    id: str = Field(pattern=_ID)


class ViewRef(_Loose):
    """The view an interaction came from, as far as Bolt reads it."""

    id: str | None = Field(default=None, max_length=100)
    team_id: str | None = Field(default=None, pattern=_ID)
    app_id: str | None = Field(default=None, pattern=_ID)
    callback_id: str | None = Field(default=None, max_length=255)


class Interaction(_Loose):
    """Any interactivity payload: the fields Bolt reads to route and authorize it."""

    type: str = Field(min_length=1, max_length=40)
    user: ActionUser | None = None
    team: Named | None = None
    enterprise: Named | None = None
    channel: Named | None = None
    view: ViewRef | None = None
    trigger_id: str = Field(default="", max_length=200)
    callback_id: str | None = Field(default=None, max_length=255)
    response_url: str | None = None
    authorizations: list[Authorization] | None = None
    event: dict[str, Any] | None = None  # Bolt's self-event filter reads it on any request

    @model_validator(mode="before")
    @classmethod
    def _present_means_an_object(cls, data: Any) -> Any:
        # Bolt reads these wherever they are present: present, they must not be null
        # (`enterprise` may be: Slack sends `"enterprise": null` outside Enterprise Grid).
        if isinstance(data, dict):
            for key in ("user", "team", "channel", "view", "event"):
                if key in data and data[key] is None:
                    raise ValueError(f"{key} is null")
        return data


class Action(_Loose):
    """One clicked element."""

    action_id: str = Field(min_length=1, max_length=255)
    value: str | None = None
    block_id: str | None = None
    action_ts: str | None = None
    selected_option: dict[str, Any] | None = None


class BlockActions(Interaction):
    """A `block_actions` payload."""

    type: Literal["block_actions"]
    user: ActionUser
    actions: list[Action] = Field(min_length=1)
    container: dict[str, Any] = Field(default_factory=dict)
    message: dict[str, Any] | None = None


@dataclass(frozen=True)
class StoredRequest:
    """A request to store before the ack: its kind, its redelivery key, its thread."""

    kind: Literal["event", "command", "action"]
    key: str
    thread_key: str


def read_request(body: Any) -> StoredRequest | None:
    """Classify a verified body; None for requests Bolt answers itself or nobody acts on."""
    if not isinstance(body, dict):
        raise InvalidPayloadError("the body is not an object")
    try:
        if body.get("type") == "event_callback":
            return _event(EventEnvelope.model_validate(body))
        if body.get("type") == "block_actions":
            return _action(BlockActions.model_validate(body))
        if "type" in body and "command" not in body:  # views, shortcuts, suggestions…
            Interaction.model_validate(body)  # Bolt answers them; nothing is stored
            return None
        if "command" in body:
            command = SlashCommand.model_validate(body)
            return StoredRequest(kind="command", key=f"command:{command.trigger_id}", thread_key="")
    except ValidationError as error:
        raise InvalidPayloadError(_first_problem(error)) from error
    return None


def _event(envelope: EventEnvelope) -> StoredRequest | None:
    event = envelope.event
    key = f"event:{envelope.event_id}"
    if event.get("type") == "agent_session_stopped":
        stopped = SessionStopped.model_validate(event)
        return StoredRequest(
            kind="event", key=key, thread_key=f"{stopped.channel}:{stopped.thread_ts}"
        )
    if event.get("type") == "app_home_opened":
        opened = HomeOpened.model_validate(event)
        return StoredRequest(kind="event", key=key, thread_key=f"home:{opened.user}")
    if event.get("type") not in ("message", "app_mention"):
        return None
    if event.get("subtype") not in (None, EDITED, *SPOKEN_SUBTYPES):
        return None  # joins, topic changes, deletions…
    parsed = MessageEvent.model_validate(event)
    thread = parsed.thread_ts or parsed.ts
    if parsed.subtype == EDITED:
        if parsed.message is None:
            raise InvalidPayloadError("an edit without its message")
        thread = parsed.message.thread_ts or parsed.message.ts
    return StoredRequest(kind="event", key=key, thread_key=f"{parsed.channel}:{thread}")


def _action(payload: BlockActions) -> StoredRequest:
    container = payload.container
    channel = str(container.get("channel_id") or (payload.channel.id if payload.channel else ""))
    thread = str(container.get("thread_ts") or container.get("message_ts") or "")
    action = payload.actions[0]
    key = payload.trigger_id or f"{channel}:{action.action_ts}:{payload.user.id}"
    return StoredRequest(
        kind="action",
        key=f"action:{key}",
        thread_key=f"{channel}:{thread}" if channel and thread else "",
    )


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem.get("loc", ()))
    return f"{where or 'body'}: {problem.get('msg', 'invalid')}"
