"""A fake Slack Web API server for end-to-end tests.

`FakeSlack` runs a stdlib `ThreadingHTTPServer` on 127.0.0.1 (random port) and speaks the
wire protocol that `slack_sdk.WebClient` and `slack_bolt.App` use: every call is a POST to
``{api_url}{method}``, the token travels in ``Authorization: Bearer …``, bodies are JSON or
form-encoded (booleans as ``"1"``/``"0"``), and may be empty (``App()`` sends ``auth.test``
with an empty body and a JSON content type). Every response is ``{"ok": …}`` JSON with the
``x-oauth-scopes`` header.

Besides recording calls, the fake keeps a small model of the workspace - channels, messages,
threads, reactions, files, user groups, assistant statuses and ephemeral messages - so tests
can assert on what a channel shows rather than on raw request payloads::

    with FakeSlack() as fake:
        client = WebClient(token="xoxb-test", base_url=fake.api_url)
        parent = fake.add_user_message("C1", "hello <@UBOT>", user="U1")
        client.chat_postMessage(channel="C1", thread_ts=parent, text="hi!")
        assert [m["text"] for m in fake.thread("C1", parent)] == ["hello <@UBOT>", "hi!"]

Failures can be injected per method with `FakeSlack.fail_next`.

Answers carry what Slack's method references and response types promise, and fields those
mark optional (a user's names and time zone, a message's ``team``, ``auth.test``'s
``app_id``, ``response_metadata`` on a last page) only when a test configures them: code
that needs such a field has to cope with its absence, as it must against Slack.
"""

from __future__ import annotations

import base64
import copy
import email.parser
import email.policy
import itertools
import json
import mimetypes
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from tests.fakes.loopback import LoopbackHandler, LoopbackServer

__all__ = [
    "DEFAULT_BOT_SCOPES",
    "MAX_BLOCKS",
    "MAX_MARKDOWN_CHARS",
    "MAX_TEXT_CHARS",
    "METHOD_SCOPES",
    "FakeSlack",
    "visible_text",
]

JSONDict = dict[str, Any]
"""A decoded JSON object."""

T = TypeVar("T")

_MANIFEST = Path(__file__).resolve().parents[2] / "manifest.json"
DEFAULT_BOT_SCOPES: tuple[str, ...] = tuple(
    json.loads(_MANIFEST.read_text(encoding="utf-8"))["oauth_config"]["scopes"]["bot"]
)
"""The scopes the app's manifest asks for: granted unless a test configures others."""

_HISTORY = ("channels:history", "groups:history", "im:history", "mpim:history")
# Which scopes a method needs (any one of them); a method not listed needs none here.
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.delete": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "chat.startStream": ("chat:write",),
    "chat.appendStream": ("chat:write",),
    "chat.stopStream": ("chat:write",),
    # Since the 2026-03-05 changelog chat:write is enough for setStatus.
    "assistant.threads.setStatus": ("chat:write", "assistant:write"),
    "conversations.replies": _HISTORY,
    "conversations.history": _HISTORY,
    "reactions.add": ("reactions:write",),
    "reactions.remove": ("reactions:write",),
    "users.info": ("users:read",),
    "usergroups.list": ("usergroups:read",),
    "usergroups.users.list": ("usergroups:read",),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
}

MAX_TEXT_CHARS = 40_000
"""Slack truncates a message's ``text`` beyond this many characters."""

MAX_MARKDOWN_CHARS = 12_000
"""Cumulative limit for ``markdown`` blocks (and for ``markdown_text``) in one message."""

MAX_BLOCKS = 50
"""Maximum number of blocks in one message."""

STREAM_EXPIRY_SECONDS = 300.0
"""A stream not stopped within this long is ended by Slack; later appends fail."""

MAX_VIEW_BLOCKS = 100
"""Maximum number of blocks in a Home tab (or modal) view."""

SESSION_STATUSES = ("processing", "active", "suspended", "closed")
"""The statuses `agents.sessions.setStatus` accepts."""

MAX_LOADING_MESSAGES = 10
"""Maximum number of ``loading_messages`` for ``assistant.threads.setStatus``."""

_DEFAULT_REPLIES_LIMIT = 1000
_DEFAULT_HISTORY_LIMIT = 100


class _SlackError(Exception):
    """Raised by method handlers to answer ``{"ok": false, "error": error, **extra}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


class _BadRequestBodyError(Exception):
    """The request body could not be decoded."""


@dataclass
class _Failure:
    """One queued failure injected with `FakeSlack.fail_next`."""

    status: int
    error: str
    retry_after: str | None
    remaining: int
    extra: JSONDict = field(default_factory=dict)


@dataclass
class _Workspace:
    """Who the bot is in one workspace."""

    team_id: str
    team_name: str
    team_domain: str
    bot_user_id: str
    bot_id: str
    scopes: list[str]
    installer: str
    token_seconds: int | None = None  # token rotation: tokens expire and are refreshed


_WORKSPACE_FIELDS = ("team_id", "team_name", "team_domain", "bot_user_id", "bot_id")
INSTALL_CODE_SECONDS = 600.0
"""An OAuth code unused for this long is refused (`invalid_code`)."""


@dataclass
class _PendingUpload:
    """A file announced by ``files.getUploadURLExternal``, perhaps uploaded already."""

    file_id: str
    filename: str
    length: int
    alt_txt: str | None
    snippet_type: str | None
    content: bytes | None = None


@dataclass
class _ResponseTarget:
    """Where posts to a fake ``response_url`` show up in the channel model."""

    channel: str | None
    thread_ts: str | None
    user: str | None


def visible_text(message: Mapping[str, Any]) -> str:
    """Return the text a Slack client would display for ``message``.

    ``markdown_text`` comes first, then the text found in ``blocks`` (Markdown blocks,
    section text and fields, headers, context, rich text, button labels …). When there are
    neither, the top-level ``text`` is shown, as Slack does.
    """
    parts: list[str] = []
    markdown_text = message.get("markdown_text")
    if isinstance(markdown_text, str) and markdown_text:
        parts.append(markdown_text)
    blocks = message.get("blocks")
    if isinstance(blocks, list):
        for block in blocks:
            pieces = list(_text_leaves(block))
            joiner = "" if isinstance(block, dict) and block.get("type") == "rich_text" else "\n"
            if pieces:
                parts.append(joiner.join(pieces))
    if not parts:
        text = message.get("text")
        if isinstance(text, str):
            parts.append(text)
    return "\n".join(parts)


def _text_leaves(node: Any) -> Iterable[str]:
    """Yield every string stored under a ``text`` key inside a block structure."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                yield value
            else:
                yield from _text_leaves(value)
    elif isinstance(node, list):
        for item in node:
            yield from _text_leaves(item)


def _ts_key(ts: str) -> tuple[int, int]:
    """Sort key for a Slack timestamp such as ``"1700000000.000100"``."""
    seconds, _, fraction = str(ts).partition(".")
    try:
        return int(seconds or 0), int((fraction or "0").ljust(6, "0")[:6])
    except ValueError:
        return 0, 0


def _truthy(value: Any) -> bool:
    """Interpret a Slack boolean argument (``True``, ``1``, ``"1"``, ``"true"``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    return isinstance(value, str) and value.strip().lower() in {"1", "true", "yes"}


def _time_zone(tz: str, label: str | None, offset: int | None, *, at: int) -> JSONDict:
    """``users.info``'s time zone fields for ``tz``: the label and the offset (seconds east
    of UTC at ``at``) come from the zone unless given."""
    moment = datetime.fromtimestamp(at, ZoneInfo(tz))
    if offset is None:
        delta = moment.utcoffset()
        offset = int(delta.total_seconds()) if delta is not None else 0
    return {"tz": tz, "tz_label": label or moment.tzname() or tz, "tz_offset": offset}


def _encode_cursor(ts: str) -> str:
    """Encode a pagination cursor the way Slack does (base64 of ``next_ts:…``)."""
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _decode_cursor(cursor: str) -> str:
    """Decode a cursor made by `_encode_cursor`, raising ``invalid_cursor`` otherwise."""
    try:
        decoded = base64.b64decode(cursor.encode(), validate=True).decode()
    except ValueError as exc:
        raise _SlackError("invalid_cursor") from exc
    if not decoded.startswith("next_ts:"):
        raise _SlackError("invalid_cursor")
    return decoded.removeprefix("next_ts:")


def _parse_body(content_type: str, body: bytes) -> JSONDict:
    """Decode a request body according to its content type.

    JSON (an empty body counts as ``{}``), urlencoded forms and multipart forms are
    understood; anything else is tried as a urlencoded form.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not body.strip():
        return {}
    if media_type == "application/json":
        try:
            decoded = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _BadRequestBodyError("invalid_json") from exc
        if not isinstance(decoded, dict):
            raise _BadRequestBodyError("invalid_json")
        return decoded
    if media_type == "multipart/form-data":
        return _parse_multipart(content_type, body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _BadRequestBodyError("invalid_form_data") from exc
    return dict(parse_qsl(text, keep_blank_values=True))


def _parse_multipart(content_type: str, body: bytes) -> JSONDict:
    """Decode a ``multipart/form-data`` body: text fields as str, file parts as bytes."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise _BadRequestBodyError("invalid_form_data")
    fields: JSONDict = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if part.get_filename() is not None:
            fields[name] = data
        else:
            fields[name] = data.decode("utf-8", errors="replace")
    return fields


def _multipart_file(fields: Mapping[str, Any]) -> bytes | None:
    """Return the first file part (bytes) of a decoded multipart form, if any."""
    for value in fields.values():
        if isinstance(value, bytes):
            return value
    return None


class _Handler(LoopbackHandler):
    """A request to the fake, over HTTP/1.0: one request a connection."""

    protocol_version = "HTTP/1.0"
    server_version = "FakeSlack/1.0"


_MethodHandler = Callable[[JSONDict], JSONDict]


class FakeSlack(LoopbackServer):
    """A loopback fake of the Slack Web API with a model of channels and messages.

    Use it as a context manager (or call `start` / `stop`) and point a client at
    `api_url`, e.g. ``WebClient(token="xoxb-test", base_url=fake.api_url)`` or the
    ``SLACK_API_URL`` setting.

    Args:
        tokens: Tokens accepted in the ``Authorization: Bearer`` header. Anything else,
            or no token at all, gets ``invalid_auth``.
        scopes: Scopes reported in the ``x-oauth-scopes`` response header.
        bot_user_id: The bot's user id (``auth.test`` ``user_id``; messages' ``user``).
        bot_id: The bot id (``auth.test`` ``bot_id``; messages' ``bot_id``).
        team_id: The workspace id.
        team_name: The workspace name reported by ``auth.test``.
        team_domain: Used for ``auth.test`` ``url`` and permalinks.
        app_id: The app id attached to bot messages, and named by ``bots.info``.
        auth_test_names_app: Whether ``auth.test`` also carries ``app_id`` and ``app_name``;
            off by default, as they are optional in Slack's response types.
        messages_name_team: Whether messages (posted, seeded, listed) carry ``team``; off by
            default, as it is optional in Slack's message types and not always sent.
        bot_name: The bot user's name.
        users: Users to seed, ``{user_id: keyword arguments of add_user}``.
        channels: Channels to seed, ``{channel_id: keyword arguments of add_channel}``.
        strict: When false (the default), unknown channels are created on first use and
            reactions/permalinks for unknown messages are accepted. When true, they get
            ``channel_not_found`` / ``message_not_found`` as real Slack would answer.
        ts_base: Seconds part of the first generated message timestamp.
        host: Interface to listen on.
        port: Port to listen on; 0 picks a free one.
    """

    handler_class = _Handler
    # POST carries every Web API call, upload and response_url post; Slack accepts GET for
    # read methods too (slack_sdk never sends one).
    http_methods = frozenset({"GET", "POST"})

    def __init__(
        self,
        *,
        tokens: Iterable[str] = ("xoxb-test",),
        scopes: Iterable[str] = DEFAULT_BOT_SCOPES,
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        team_id: str = "T0001",
        team_name: str = "Test Workspace",
        team_domain: str = "test-workspace",
        app_id: str = "A0001",
        bot_name: str = "agentdesk",
        users: Mapping[str, Mapping[str, Any]] | None = None,
        channels: Mapping[str, Mapping[str, Any]] | None = None,
        strict: bool = False,
        ts_base: int = 1_700_000_000,
        host: str = "127.0.0.1",
        port: int = 0,
        stream_expiry_seconds: float = STREAM_EXPIRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        client_id: str = "1111.2222",
        client_secret: str = "fake-client-secret",  # noqa: S107 (a fake)
        auth_test_names_app: bool = False,
        messages_name_team: bool = False,
    ) -> None:
        super().__init__(host=host, port=port)
        self.auth_test_names_app = auth_test_names_app
        self.messages_name_team = messages_name_team
        self.tokens: set[str] = set(tokens)
        self.scopes: list[str] = list(scopes)
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.app_id = app_id
        self.bot_name = bot_name
        self.strict = strict
        self._ts_base = ts_base
        self.stream_expiry_seconds = stream_expiry_seconds
        self.clock = clock
        self.client_id = client_id
        self.client_secret = client_secret
        # Other workspaces the app is installed in, by bot token (see `grant_install`).
        self._workspaces: dict[str, _Workspace] = {}
        self._install_codes: dict[str, tuple[_Workspace, float]] = {}
        self._refresh_tokens: dict[str, _Workspace] = {}
        self._call_tokens: list[tuple[str, str | None]] = []

        self._lock = threading.RLock()
        self._seq = itertools.count(1)
        self._file_seq = itertools.count(1)

        self._calls: list[tuple[str, JSONDict]] = []
        self._channels: dict[str, JSONDict] = {}
        self._messages: dict[str, list[JSONDict]] = {}
        self._ephemerals: list[JSONDict] = []
        self._deleted: list[JSONDict] = []
        self._users: dict[str, JSONDict] = {}
        self._usergroups: dict[str, JSONDict] = {}
        self._reactions: list[JSONDict] = []
        self._statuses: list[JSONDict] = []
        self._current_status: dict[tuple[str, str], str] = {}
        self._sessions: dict[tuple[str, str], JSONDict] = {}
        self._home_views: dict[str, JSONDict] = {}
        self._uploads: dict[str, _PendingUpload] = {}
        self._files: list[JSONDict] = []
        self._responses: dict[str, list[JSONDict]] = {}
        self._response_targets: dict[str, _ResponseTarget] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._holds: dict[str, list[float]] = {}
        self._errors: list[str] = []
        self.socket_mode_url: str | None = None  # set by FakeSocketMode

        self._methods: dict[str, _MethodHandler] = {
            "api.test": self._m_api_test,
            "apps.connections.open": self._m_apps_connections_open,
            "auth.test": self._m_auth_test,
            "bots.info": self._m_bots_info,
            "chat.postMessage": self._m_chat_post_message,
            "chat.update": self._m_chat_update,
            "chat.delete": self._m_chat_delete,
            "chat.postEphemeral": self._m_chat_post_ephemeral,
            "chat.getPermalink": self._m_chat_get_permalink,
            "chat.startStream": self._m_chat_start_stream,
            "chat.appendStream": self._m_chat_append_stream,
            "chat.stopStream": self._m_chat_stop_stream,
            "conversations.replies": self._m_conversations_replies,
            "conversations.history": self._m_conversations_history,
            "conversations.info": self._m_conversations_info,
            "reactions.add": self._m_reactions_add,
            "reactions.remove": self._m_reactions_remove,
            "users.info": self._m_users_info,
            "usergroups.list": self._m_usergroups_list,
            "usergroups.users.list": self._m_usergroups_users_list,
            "assistant.threads.setStatus": self._m_assistant_set_status,
            "assistant.threads.setTitle": self._m_assistant_set_title,
            "assistant.threads.setSuggestedPrompts": self._m_assistant_set_prompts,
            "agents.sessions.setStatus": self._m_agents_sessions_set_status,
            "agents.sessions.rename": self._m_agents_sessions_rename,
            "views.publish": self._m_views_publish,
            "files.getUploadURLExternal": self._m_files_get_upload_url,
            "files.completeUploadExternal": self._m_files_complete_upload,
        }

        self.add_user(
            bot_user_id,
            name=bot_name,
            real_name=bot_name,
            is_bot=True,
            bot_id=bot_id,
        )
        for user_id, spec in (users or {}).items():
            self.add_user(user_id, **spec)
        for channel_id, spec in (channels or {}).items():
            self.add_channel(channel_id, **spec)

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:PORT/api/``, for ``WebClient(base_url=…)`` / ``SLACK_API_URL``."""
        return f"{self.base_url}/api/"

    def response_url(
        self,
        name: str,
        *,
        channel: str | None = None,
        thread_ts: str | None = None,
        user: str | None = None,
    ) -> str:
        """Return a ``response_url`` on the fake that records JSON posts under ``name``.

        Read them back with `responses`. When ``channel`` is given, posts also show in the
        channel model: ``"response_type": "in_channel"`` posts become bot messages (in
        ``thread_ts`` when given), other posts become ephemeral messages for ``user``.
        """
        with self._lock:
            self._response_targets[name] = _ResponseTarget(channel, thread_ts, user)
            self._responses.setdefault(name, [])
        return f"{self.base_url}/response/{name}"

    # ------------------------------------------------------------------ seeding

    def add_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        display_name: str | None = None,
        tz: str | None = None,
        tz_label: str | None = None,
        tz_offset: int | None = None,
        is_bot: bool = False,
        bot_id: str | None = None,
        email: str | None = None,
        deleted: bool = False,
        **extra: Any,
    ) -> JSONDict:
        """Add (or replace) a user returned by ``users.info``; returns the user object.

        Only what Slack always sends is there by default: ``real_name``, ``display_name``,
        ``email`` and the time zone (``tz``, ``tz_label``, ``tz_offset``) appear only when
        given, as ``users.info`` guarantees no profile field but the ``image_*`` ones.
        ``tz_label`` and ``tz_offset`` default to what ``tz`` says.
        """
        profile: JSONDict = {
            "team": self.team_id,
            "image_24": f"https://avatars.example/{user_id}_24.png",
            "image_48": f"https://avatars.example/{user_id}_48.png",
            "image_72": f"https://avatars.example/{user_id}_72.png",
        }
        if real_name is not None:
            profile.update(real_name=real_name, real_name_normalized=real_name)
        if display_name is not None:
            profile.update(display_name=display_name, display_name_normalized=display_name)
        if email is not None:
            profile["email"] = email
        if bot_id is not None:
            profile["bot_id"] = bot_id
            profile["api_app_id"] = self.app_id
        user: JSONDict = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name or user_id.lower(),
            "deleted": deleted,
            "color": "9f69e7",
            **({"real_name": real_name} if real_name is not None else {}),
            **(_time_zone(tz, tz_label, tz_offset, at=self._ts_base) if tz is not None else {}),
            "profile": profile,
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": self._ts_base,
            **extra,
        }
        with self._lock:
            self._users[user_id] = user
        return copy.deepcopy(user)

    def add_usergroup(
        self,
        usergroup_id: str,
        handle: str,
        name: str,
        users: Iterable[str] = (),
        *,
        description: str = "",
        disabled: bool = False,
    ) -> JSONDict:
        """Add (or replace) a user group (``S…``) for ``usergroups.list`` and
        ``usergroups.users.list``; returns it as ``usergroups.list`` shows it with
        ``include_users``. A disabled group is listed only with ``include_disabled``."""
        group: JSONDict = {
            "id": usergroup_id,
            "team_id": self.team_id,
            "is_usergroup": True,
            "name": name,
            "description": description,
            "handle": handle,
            "is_external": False,
            "date_create": self._ts_base,
            "date_update": self._ts_base,
            "date_delete": self._ts_base if disabled else 0,
            "created_by": "U0000000",
            "updated_by": "U0000000",
            "prefs": {"channels": [], "groups": []},
            "users": list(users),
        }
        with self._lock:
            self._usergroups[usergroup_id] = group
        return copy.deepcopy(group)

    def add_channel(
        self,
        channel_id: str,
        *,
        name: str | None = None,
        is_private: bool | None = None,
        is_im: bool | None = None,
        user: str | None = None,
        is_member: bool = True,
        is_archived: bool = False,
        **extra: Any,
    ) -> JSONDict:
        """Add (or replace) a conversation; returns its ``conversations.info`` object.

        The kind defaults from the id prefix: ``D…`` is a DM, ``G…`` a private channel,
        anything else a public channel.
        """
        im = channel_id.startswith("D") if is_im is None else is_im
        private = channel_id.startswith("G") if is_private is None else is_private
        created = self._ts_base
        info: JSONDict
        if im:
            info = {
                "id": channel_id,
                "created": created,
                "is_im": True,
                "is_org_shared": False,
                "user": user or "U0000000",
                "is_user_deleted": False,
                "priority": 0,
            }
        else:
            channel_name = name or channel_id.lower()
            info = {
                "id": channel_id,
                "name": channel_name,
                "name_normalized": channel_name,
                "is_channel": not private,
                "is_group": private,
                "is_im": False,
                "is_mpim": False,
                "is_private": private,
                "created": created,
                "creator": "U0000000",
                "is_archived": is_archived,
                "is_general": False,
                "is_shared": False,
                "is_ext_shared": False,
                "is_org_shared": False,
                "is_member": is_member,
                "context_team_id": self.team_id,
                "topic": {"value": "", "creator": "", "last_set": 0},
                "purpose": {"value": "", "creator": "", "last_set": 0},
            }
        info.update(extra)
        with self._lock:
            self._channels[channel_id] = info
            self._messages.setdefault(channel_id, [])
        return copy.deepcopy(info)

    def add_user_message(
        self,
        channel: str,
        text: str,
        user: str,
        thread_ts: str | None = None,
        *,
        blocks: list[JSONDict] | None = None,
        files: list[JSONDict] | None = None,
    ) -> str:
        """Seed a message a user wrote (so history/replies return it); returns its ts."""
        with self._lock:
            self._seed_channel(channel)
            message: JSONDict = {
                "type": "message",
                "user": user,
                "text": text,
                "client_msg_id": str(uuid.uuid4()),
                **self._message_team(),
            }
            if blocks is not None:
                message["blocks"] = copy.deepcopy(blocks)
            if files is not None:
                message["files"] = copy.deepcopy(files)
            stored = self._store_message(channel, message, thread_ts)
            return str(stored["ts"])

    def message_event(
        self,
        channel: str,
        ts: str,
        *,
        event_type: str = "message",
        channel_type: str | None = None,
    ) -> JSONDict:
        """Build an Events API ``event`` object for a stored message (for signed posts)."""
        with self._lock:
            stored = self._find_message(channel, ts)
            if stored is None:
                raise KeyError(f"no message {ts} in {channel}")
            info = self._channels.get(channel, {})
            kind = channel_type or ("im" if info.get("is_im") else "channel")
            event: JSONDict = {
                "type": event_type,
                "user": stored.get("user"),
                "text": stored.get("text", ""),
                "ts": stored["ts"],
                "event_ts": stored["ts"],
                "channel": channel,
                "channel_type": kind,
                "team": self.team_id,
            }
            for key in ("thread_ts", "parent_user_id", "blocks", "client_msg_id", "bot_id"):
                if key in stored and not (key == "thread_ts" and stored[key] == stored["ts"]):
                    event[key] = copy.deepcopy(stored[key])
            if event_type == "app_mention":
                event.pop("channel_type", None)
            return event

    # ------------------------------------------------------------------ failure injection

    def fail_next(
        self,
        method: str,
        status: int | None = None,
        error: str | None = None,
        retry_after: str | None = "1",
        times: int = 1,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Make the next ``times`` calls to ``method`` fail.

        - ``fail_next(m)`` or ``fail_next(m, status=429)``: HTTP 429, ``Retry-After:
          retry_after`` and ``{"ok": false, "error": "ratelimited"}``.
        - ``fail_next(m, status=500)``: HTTP 500 with ``{"ok": false, "error":
          "internal_error"}`` (or ``error``).
        - ``fail_next(m, error="channel_not_found")``: HTTP 200 ``{"ok": false, "error": …}``;
          ``extra`` is merged into the body (e.g. ``{"needed": "assistant:write"}``).

        Queued failures for one method are consumed in order, before the call is handled.
        """
        if status is None:
            status = 429 if error in (None, "ratelimited") else 200
        if error is None:
            error = "ratelimited" if status == 429 else "internal_error"
        header = retry_after if status in (429, 503) else None
        failure = _Failure(status, error, header, max(1, times), dict(extra or {}))
        with self._lock:
            self._failures.setdefault(method, []).append(failure)

    def hold_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Handle the next ``times`` calls to ``method`` at once but hold each answer back
        for ``seconds``: the call's effect (a posted message…) shows before the caller hears.
        """
        with self._lock:
            self._holds.setdefault(method, []).extend([seconds] * max(1, times))

    # ------------------------------------------------------------------ inspection

    def grant_install(
        self,
        team_id: str,
        *,
        team_name: str | None = None,
        bot_user_id: str | None = None,
        bot_id: str | None = None,
        installer: str = "U0INSTALLER",
        scopes: Iterable[str] | None = None,
        token_seconds: int | None = None,
    ) -> str:
        """Someone approves the app for another workspace; returns the code Slack would hand
        to the redirect URL (single use, valid for ten minutes). With `token_seconds` the
        app uses token rotation: tokens expire after that long and come with refresh tokens."""
        workspace = _Workspace(
            team_id=team_id,
            team_name=team_name or f"Workspace {team_id}",
            team_domain=team_id.lower(),
            bot_user_id=bot_user_id or f"UBOT{team_id}",
            bot_id=bot_id or f"BBOT{team_id}",
            scopes=list(scopes if scopes is not None else self.scopes),
            installer=installer,
            token_seconds=token_seconds,
        )
        code = f"{team_id}.{uuid.uuid4().hex[:16]}"
        with self._lock:
            self._install_codes[code] = (workspace, self.clock())
        return code

    def tokens_used(self, method: str) -> list[str | None]:
        """The bot token each call to `method` carried, in order."""
        with self._lock:
            return [token for name, token in self._call_tokens if name == method]

    def token_of(self, team_id: str) -> str | None:
        """The bot token an OAuth install (or the latest rotation) gave a workspace."""
        with self._lock:
            return next(
                (t for t, w in reversed(self._workspaces.items()) if w.team_id == team_id), None
            )

    @property
    def calls(self) -> list[tuple[str, JSONDict]]:
        """Every Web API call received, in order, as ``(method, params)``."""
        with self._lock:
            return copy.deepcopy(self._calls)

    def calls_to(self, method: str) -> list[JSONDict]:
        """The params of every call to ``method``, in order."""
        with self._lock:
            return [copy.deepcopy(params) for name, params in self._calls if name == method]

    def reset_calls(self) -> None:
        """Forget the recorded calls (the channel model is kept)."""
        with self._lock:
            self._calls.clear()
            self._call_tokens.clear()

    def messages(self, channel: str) -> list[JSONDict]:
        """All messages in ``channel`` (top level and replies) in ts order.

        Each is a copy of the stored message with the keys ``channel``, ``ts``,
        ``thread_ts``, ``user``, ``bot_id``, ``text``, ``blocks``, ``markdown_text`` and
        ``files`` always present (``None`` / ``[]`` when absent).
        """
        with self._lock:
            return [self._view(channel, m) for m in self._messages.get(channel, [])]

    def thread(self, channel: str, thread_ts: str) -> list[JSONDict]:
        """The parent message (when known) followed by its replies, like `messages`."""
        with self._lock:
            root = self._thread_root(channel, thread_ts)
            return [
                self._view(channel, m)
                for m in self._messages.get(channel, [])
                if m["ts"] == root or m.get("thread_ts") == root
            ]

    def texts(self, channel: str, thread_ts: str | None = None) -> list[str]:
        """`visible_text` of each message in the channel (or in one thread)."""
        found = self.thread(channel, thread_ts) if thread_ts else self.messages(channel)
        return [visible_text(m) for m in found]

    def message(self, channel: str, ts: str) -> JSONDict | None:
        """One message by ts, like `messages`, or ``None``."""
        with self._lock:
            stored = self._find_message(channel, ts)
            return None if stored is None else self._view(channel, stored)

    def ephemerals(self, channel: str | None = None) -> list[JSONDict]:
        """Ephemeral messages (``chat.postEphemeral`` and ephemeral response_url posts)."""
        with self._lock:
            return [
                copy.deepcopy(m)
                for m in self._ephemerals
                if channel is None or m["channel"] == channel
            ]

    @property
    def deleted(self) -> list[JSONDict]:
        """Messages removed with ``chat.delete`` (with their ``channel``)."""
        with self._lock:
            return copy.deepcopy(self._deleted)

    def agent_session(self, channel_id: str, thread_ts: str) -> JSONDict | None:
        """A thread's agent session: ``{status, title, history}``, or None."""
        with self._lock:
            found = self._sessions.get((channel_id, thread_ts))
            return copy.deepcopy(found) if found is not None else None

    def home_view(self, user_id: str) -> JSONDict | None:
        """The Home tab last published for a user."""
        with self._lock:
            found = self._home_views.get(user_id)
            return copy.deepcopy(found) if found is not None else None

    @property
    def statuses(self) -> list[JSONDict]:
        """Every ``assistant.threads.setStatus`` call's arguments, in order."""
        with self._lock:
            return copy.deepcopy(self._statuses)

    def current_status(self, channel_id: str, thread_ts: str) -> str | None:
        """The assistant status a thread shows now.

        Slack clears it when the app posts a reply in the thread or sets ``""``.
        """
        with self._lock:
            return self._current_status.get((channel_id, thread_ts))

    @property
    def reactions(self) -> list[JSONDict]:
        """Current reactions as ``{"channel", "ts", "name", "user"}`` (removals applied)."""
        with self._lock:
            return copy.deepcopy(self._reactions)

    @property
    def files(self) -> list[JSONDict]:
        """Completed uploads: ``id, name, title, content`` (bytes), ``channel, thread_ts``…"""
        with self._lock:
            return copy.deepcopy(self._files)

    def responses(self, name: str) -> list[JSONDict]:
        """The JSON bodies posted to ``response_url(name)``, in order."""
        with self._lock:
            return copy.deepcopy(self._responses.get(name, []))

    @property
    def errors(self) -> list[str]:
        """Tracebacks of bugs inside the fake itself (answered with HTTP 500)."""
        with self._lock:
            return list(self._errors)

    def wait_for(
        self,
        predicate: Callable[[], T | None],
        timeout: float = 5.0,
        interval: float = 0.02,
        message: str = "",
    ) -> T:
        """Poll ``predicate`` until it returns something truthy and return that value.

        Raises AssertionError with a dump of the fake's state when ``timeout`` passes.
        Bolt runs listeners after acking, so tests need this to see their Web API calls.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result is not None and result:
                return result
            if time.monotonic() >= deadline:
                what = f": {message}" if message else ""
                raise AssertionError(
                    f"FakeSlack.wait_for timed out after {timeout}s{what}\n{self.dump()}"
                )
            time.sleep(interval)

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 5.0) -> list[JSONDict]:
        """Wait until ``method`` was called at least ``count`` times; return the params."""

        def found() -> list[JSONDict] | None:
            calls = self.calls_to(method)
            return calls if len(calls) >= count else None

        return self.wait_for(found, timeout=timeout, message=f"{count} call(s) to {method}")

    def wait_for_messages(
        self,
        channel: str,
        count: int = 1,
        *,
        thread_ts: str | None = None,
        from_bot: bool = True,
        timeout: float = 5.0,
    ) -> list[JSONDict]:
        """Wait until the channel (or thread) has ``count`` messages (from the bot only,
        by default); return those messages."""

        def found() -> list[JSONDict] | None:
            msgs = self.thread(channel, thread_ts) if thread_ts else self.messages(channel)
            if from_bot:
                msgs = [m for m in msgs if m.get("bot_id") == self.bot_id]
            return msgs if len(msgs) >= count else None

        where = f"{channel} thread {thread_ts}" if thread_ts else channel
        return self.wait_for(found, timeout=timeout, message=f"{count} message(s) in {where}")

    def dump(self) -> str:
        """A readable summary of calls, channels, statuses and fake errors."""
        with self._lock:
            lines = [f"calls ({len(self._calls)}):"]
            for method, params in self._calls[-40:]:
                shown = {k: v for k, v in params.items() if k != "team_id"}
                lines.append(f"  {method} {_short(json.dumps(shown, default=str))}")
            for channel, msgs in self._messages.items():
                lines.append(f"channel {channel} ({len(msgs)} messages):")
                for m in msgs:
                    who = m.get("bot_id") or m.get("user")
                    thread = f" thread={m['thread_ts']}" if m.get("thread_ts") else ""
                    lines.append(f"  {m['ts']}{thread} {who}: {_short(visible_text(m))}")
            if self._ephemerals:
                lines.append(f"ephemerals: {len(self._ephemerals)}")
            if self._statuses:
                lines.append(f"statuses: {_short(json.dumps(self._statuses), 400)}")
            pending = {k: len(v) for k, v in self._failures.items() if v}
            if pending:
                lines.append(f"pending failures: {pending}")
            for error in self._errors:
                lines.append(f"FAKE ERROR: {error}")
            return "\n".join(lines)

    # ------------------------------------------------------------------ HTTP plumbing

    def _handle(self, request: LoopbackHandler) -> None:
        headers = {key.lower(): value for key, value in request.headers.items()}
        status, response_headers, payload = self._handle_http(
            request.path, headers, request.read_body()
        )
        request.send_body(status, payload, response_headers)

    def _handle_http(
        self, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one HTTP request: ``(status, headers, body)``."""
        split = urlsplit(raw_path)
        path = split.path
        try:
            if path.startswith("/api/"):
                return self._handle_api(path.removeprefix("/api/"), split.query, headers, body)
            if path.startswith("/upload/v1/"):
                return self._handle_upload(path.removeprefix("/upload/v1/"), headers, body)
            if path.startswith("/response/"):
                return self._handle_response_url(path.removeprefix("/response/"), body)
        except Exception:
            with self._lock:
                self._errors.append(traceback.format_exc())
            return self._json(500, {"ok": False, "error": "fake_internal_error"})
        return 404, {"Content-Type": "text/plain"}, b"not found"

    def _json(
        self, status: int, payload: JSONDict, extra_headers: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "x-oauth-scopes": ",".join(self.scopes),
            **(extra_headers or {}),
        }
        return status, headers, json.dumps(payload).encode("utf-8")

    def _handle_api(
        self, method: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        params: JSONDict = dict(parse_qsl(query, keep_blank_values=True))
        try:
            params.update(_parse_body(headers.get("content-type", ""), body))
        except _BadRequestBodyError as exc:
            with self._lock:
                self._calls.append((method, params))
            return self._json(200, {"ok": False, "error": str(exc)})

        token = params.pop("token", None)
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()

        with self._lock:
            self._calls.append((method, copy.deepcopy(params)))
            self._call_tokens.append((method, token if isinstance(token, str) else None))
            if method == "oauth.v2.access":
                return self._oauth_v2_access(params, auth)
            if not isinstance(token, str) or token not in self.tokens:
                return self._json(200, {"ok": False, "error": "invalid_auth"})
            queue = self._failures.get(method)
            if queue:
                failure = queue[0]
                failure.remaining -= 1
                if failure.remaining <= 0:
                    queue.pop(0)
                fail_headers = {}
                if failure.retry_after is not None:
                    fail_headers["Retry-After"] = failure.retry_after
                payload = {"ok": False, "error": failure.error, **failure.extra}
                return self._json(failure.status, payload, fail_headers)
            handler = self._methods.get(method)
            if handler is None:
                return self._json(200, {"ok": False, "error": "unknown_method"})
            workspace = self._workspaces.get(token)
            scopes = workspace.scopes if workspace is not None else self.scopes
            needed = METHOD_SCOPES.get(method, ())
            if needed and not set(needed) & set(scopes):
                return self._json(
                    200,
                    {
                        "ok": False,
                        "error": "missing_scope",
                        "needed": needed[0],
                        "provided": ",".join(scopes),
                    },
                )
            home = {name: getattr(self, name) for name in _WORKSPACE_FIELDS}
            if workspace is not None:  # answer as the bot of the token's workspace
                for name in _WORKSPACE_FIELDS:
                    setattr(self, name, getattr(workspace, name))
            try:
                result = handler(params)
            except _SlackError as exc:
                return self._json(200, {"ok": False, "error": exc.error, **exc.extra})
            finally:
                for name, value in home.items():
                    setattr(self, name, value)
            holds = self._holds.get(method)
            hold = holds.pop(0) if holds else 0.0
        if hold > 0:
            time.sleep(hold)  # outside the lock: the workspace stays readable meanwhile
        return self._json(200, {"ok": True, **result}, {"x-oauth-scopes": ",".join(scopes)})

    def _oauth_v2_access(self, params: JSONDict, auth: str) -> tuple[int, dict[str, str], bytes]:
        """Exchange an install code for a bot token, authenticated by the app's credentials
        (HTTP Basic, as slack_sdk sends them, or form fields)."""
        client_id, client_secret = params.get("client_id"), params.get("client_secret")
        if auth.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(auth[6:].strip()).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                decoded = ":"
            client_id, _, client_secret = decoded.partition(":")
        if client_id != self.client_id:
            return self._json(200, {"ok": False, "error": "invalid_client_id"})
        if client_secret != self.client_secret:
            return self._json(200, {"ok": False, "error": "bad_client_secret"})
        if params.get("grant_type") == "refresh_token":
            refreshed = self._refresh_tokens.pop(str(params.get("refresh_token") or ""), None)
            if refreshed is None:
                return self._json(200, {"ok": False, "error": "invalid_refresh_token"})
            return self._json(200, self._grant(refreshed, installer=False))
        pending = self._install_codes.pop(str(params.get("code") or ""), None)
        if pending is None or self.clock() - pending[1] > INSTALL_CODE_SECONDS:
            return self._json(200, {"ok": False, "error": "invalid_code"})
        return self._json(200, self._grant(pending[0], installer=True))

    def _grant(self, workspace: _Workspace, *, installer: bool) -> JSONDict:
        """A fresh bot token for a workspace (and a refresh token, with rotation on)."""
        token = f"xoxb-{workspace.team_id}-{uuid.uuid4().hex[:12]}"
        self._workspaces[token] = workspace
        self.tokens.add(token)
        granted: JSONDict = {
            "ok": True,
            "app_id": self.app_id,
            "scope": ",".join(workspace.scopes),
            "token_type": "bot",
            "access_token": token,
            "bot_user_id": workspace.bot_user_id,
            "team": {"id": workspace.team_id, "name": workspace.team_name},
            "enterprise": None,
            "is_enterprise_install": False,
        }
        if installer:
            granted["authed_user"] = {"id": workspace.installer}
        if workspace.token_seconds is not None:
            refresh = f"xoxe-1-{uuid.uuid4().hex[:16]}"
            self._refresh_tokens[refresh] = workspace
            granted.update(refresh_token=refresh, expires_in=workspace.token_seconds)
        return granted

    def _handle_upload(
        self, file_id: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        content_type = headers.get("content-type", "")
        content = body
        if content_type.lower().startswith("multipart/form-data"):
            try:
                content = _multipart_file(_parse_multipart(content_type, body)) or b""
            except _BadRequestBodyError:
                return 400, {"Content-Type": "text/plain"}, b"invalid multipart body"
        with self._lock:
            pending = self._uploads.get(file_id)
            if pending is None:
                return 404, {"Content-Type": "text/plain"}, b"unknown upload"
            pending.content = content
        return 200, {"Content-Type": "text/plain"}, f"OK - {len(content)}".encode()

    def _handle_response_url(self, name: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            payload = _parse_body("application/json", body)
        except _BadRequestBodyError:
            return 400, {"Content-Type": "text/plain"}, b"invalid_payload"
        with self._lock:
            self._responses.setdefault(name, []).append(copy.deepcopy(payload))
            target = self._response_targets.get(name)
            if target is not None and target.channel is not None:
                self._show_response(target, payload)
        return 200, {"Content-Type": "text/plain"}, b"ok"

    def _show_response(self, target: _ResponseTarget, payload: JSONDict) -> None:
        """Reflect a response_url post in the channel model."""
        channel = str(target.channel)
        if payload.get("delete_original") or payload.get("replace_original"):
            return
        thread_ts = payload.get("thread_ts") or target.thread_ts
        if payload.get("response_type") == "in_channel":
            self._seed_channel(channel)
            message = self._bot_message(payload)
            self._store_message(channel, message, thread_ts)
        else:
            self._ephemerals.append(
                {
                    "channel": channel,
                    "user": target.user,
                    "message_ts": self._next_ts(),
                    "thread_ts": thread_ts,
                    "text": payload.get("text", ""),
                    "blocks": payload.get("blocks") or [],
                    "markdown_text": None,
                }
            )

    # ------------------------------------------------------------------ model helpers

    def _next_ts(self) -> str:
        micros = next(self._seq) * 100
        return f"{self._ts_base + micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _ensure_channel(self, channel: str, *, create: bool) -> JSONDict:
        info = self._channels.get(channel)
        if info is None:
            if self.strict or not create:
                raise _SlackError("channel_not_found")
            self.add_channel(channel)
            info = self._channels[channel]
        return info

    def _seed_channel(self, channel: str) -> None:
        """Create ``channel`` if unknown, even in strict mode (for test seeding)."""
        if channel not in self._channels:
            self.add_channel(channel)

    def _find_message(self, channel: str, ts: str) -> JSONDict | None:
        for message in self._messages.get(channel, []):
            if message["ts"] == ts:
                return message
        return None

    def _thread_root(self, channel: str, thread_ts: str) -> str:
        """Normalise a ts that points at a reply to its thread's parent ts."""
        found = self._find_message(channel, thread_ts)
        if found is not None and found.get("thread_ts"):
            return str(found["thread_ts"])
        return thread_ts

    def _store_message(self, channel: str, message: JSONDict, thread_ts: str | None) -> JSONDict:
        """Give ``message`` a ts, attach it to its thread and store it."""
        message["ts"] = self._next_ts()
        if thread_ts:
            root = self._thread_root(channel, str(thread_ts))
            message["thread_ts"] = root
            parent = self._find_message(channel, root)
            if parent is not None:
                if parent.get("user"):
                    message["parent_user_id"] = parent["user"]
                parent["thread_ts"] = root
                parent["reply_count"] = int(parent.get("reply_count", 0)) + 1
                replier = message.get("user")
                reply_users = list(parent.get("reply_users", []))
                if replier and replier not in reply_users:
                    reply_users.append(replier)
                parent["reply_users"] = reply_users
                parent["reply_users_count"] = len(reply_users)
                parent["latest_reply"] = message["ts"]
            if message.get("bot_id") == self.bot_id:
                self._current_status.pop((channel, root), None)
        self._messages.setdefault(channel, []).append(message)
        return message

    def _bot_message(self, params: Mapping[str, Any]) -> JSONDict:
        """A stored bot message built from (validated) post/update arguments."""
        message: JSONDict = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            **self._message_team(),
            "text": str(params.get("text") or "")[:MAX_TEXT_CHARS],
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": self.bot_name,
                "icons": {"image_48": "https://avatars.example/bot_48.png"},
                "deleted": False,
                "updated": self._ts_base,
                "team_id": self.team_id,
            },
        }
        for key in ("blocks", "attachments", "metadata", "username", "icon_emoji", "icon_url"):
            if params.get(key):
                message[key] = copy.deepcopy(params[key])
        if params.get("markdown_text"):
            message["markdown_text"] = params["markdown_text"]
        return message

    def _message_team(self) -> JSONDict:
        """``{"team": …}`` for a new message when tests asked for it, else nothing."""
        return {"team": self.team_id} if self.messages_name_team else {}

    def _view(self, channel: str, message: JSONDict) -> JSONDict:
        view = copy.deepcopy(message)
        view.pop("stream_started", None)
        view["channel"] = channel
        for key in ("thread_ts", "user", "bot_id", "markdown_text"):
            view.setdefault(key, None)
        view.setdefault("text", "")
        view.setdefault("blocks", [])
        view.setdefault("files", [])
        return view

    @staticmethod
    def _public(message: JSONDict, *, include_metadata: bool = True) -> JSONDict:
        """A stored message as the API returns it."""
        out = copy.deepcopy(message)
        out.pop("stream_started", None)  # the fake's own bookkeeping
        if not include_metadata:
            out.pop("metadata", None)
        return out

    def _permalink(self, channel: str, ts: str, thread_ts: str | None) -> str:
        link = f"https://{self.team_domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        if thread_ts and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={channel}"
        return link

    # ------------------------------------------------------------------ argument helpers

    @staticmethod
    def _require(params: Mapping[str, Any], key: str, error: str = "invalid_arguments") -> str:
        value = params.get(key)
        if value is None or value == "":
            if error == "invalid_arguments":
                raise _SlackError(
                    error,
                    response_metadata={"messages": [f"[ERROR] missing required field: {key}"]},
                )
            raise _SlackError(error)
        return str(value)

    @staticmethod
    def _json_param(params: Mapping[str, Any], key: str, error: str) -> Any:
        value = params.get(key)
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise _SlackError(error) from exc
        return value

    @staticmethod
    def _int_param(params: Mapping[str, Any], key: str, default: int) -> int:
        value = params.get(key)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise _SlackError("invalid_arguments") from exc

    def _message_content(self, params: Mapping[str, Any], *, require: bool = True) -> JSONDict:
        """Validate and normalise text/blocks/markdown_text/attachments/metadata."""
        content: JSONDict = {}
        blocks = self._json_param(params, "blocks", "invalid_blocks_format")
        if blocks is not None and not isinstance(blocks, list):
            raise _SlackError("invalid_blocks_format")
        attachments = self._json_param(params, "attachments", "invalid_attachments")
        metadata = self._json_param(params, "metadata", "invalid_metadata_format")
        text = params.get("text")
        markdown_text = params.get("markdown_text")
        if markdown_text and (text or blocks):
            raise _SlackError("markdown_text_conflict")
        if require and not (text or blocks or markdown_text or attachments):
            raise _SlackError("no_text")
        if blocks is not None:
            if len(blocks) > MAX_BLOCKS:
                raise _SlackError(
                    "invalid_blocks",
                    response_metadata={
                        "messages": [
                            f"[ERROR] no more than {MAX_BLOCKS} items allowed "
                            "[json-pointer:/blocks]"
                        ]
                    },
                )
            if any(not isinstance(b, dict) or not b.get("type") for b in blocks):
                raise _SlackError("invalid_blocks")
            markdown_chars = sum(
                len(str(b.get("text", ""))) for b in blocks if b.get("type") == "markdown"
            )
            if markdown_chars > MAX_MARKDOWN_CHARS:
                raise _SlackError("msg_blocks_too_long")
            content["blocks"] = blocks
        if markdown_text:
            if len(str(markdown_text)) > MAX_MARKDOWN_CHARS:
                raise _SlackError("msg_too_long")
            content["markdown_text"] = str(markdown_text)
        if metadata is not None:
            if (
                not isinstance(metadata, dict)
                or not metadata.get("event_type")
                or not isinstance(metadata.get("event_payload", {}), dict)
            ):
                raise _SlackError("invalid_metadata_schema")
            content["metadata"] = metadata
        if attachments is not None:
            content["attachments"] = attachments
        if text is not None:
            content["text"] = str(text)[:MAX_TEXT_CHARS]
        for key in ("username", "icon_emoji", "icon_url"):
            if params.get(key):
                content[key] = params[key]
        return content

    def _stored_or_error(self, channel: str, ts: str) -> JSONDict:
        stored = self._find_message(channel, ts)
        if stored is None:
            raise _SlackError("message_not_found")
        return stored

    # ------------------------------------------------------------------ Web API methods

    def _m_api_test(self, params: JSONDict) -> JSONDict:
        return {"args": {k: v for k, v in params.items() if k != "team_id"}}

    def _m_apps_connections_open(self, params: JSONDict) -> JSONDict:
        """Socket Mode: the websocket URL of a `FakeSocketMode` attached to this fake."""
        if not self.socket_mode_url:
            raise _SlackError("socket_mode_not_enabled")
        return {"url": self.socket_mode_url}

    def _m_auth_test(self, params: JSONDict) -> JSONDict:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
            **(
                {"app_id": self.app_id, "app_name": self.bot_name}
                if self.auth_test_names_app
                else {}
            ),
        }

    def _m_bots_info(self, params: JSONDict) -> JSONDict:
        bot_id = self._require(params, "bot", "bot_not_found")
        if bot_id != self.bot_id:
            raise _SlackError("bot_not_found")
        return {
            "bot": {
                "id": self.bot_id,
                "deleted": False,
                "name": self.bot_name,
                "updated": self._ts_base,
                "app_id": self.app_id,
                "user_id": self.bot_user_id,
                "icons": {},
            }
        }

    def _m_chat_post_message(self, params: JSONDict) -> JSONDict:
        channel = self._require(params, "channel", "channel_not_found")
        self._ensure_channel(channel, create=True)
        content = self._message_content(params)
        message = self._bot_message(content)
        if _truthy(params.get("reply_broadcast")) and params.get("thread_ts"):
            message["subtype"] = "thread_broadcast"
        stored = self._store_message(channel, message, params.get("thread_ts") or None)
        return {"channel": channel, "ts": stored["ts"], "message": self._public(stored)}

    def _m_chat_update(self, params: JSONDict) -> JSONDict:
        channel = self._require(params, "channel", "channel_not_found")
        ts = self._require(params, "ts", "message_not_found")
        self._ensure_channel(channel, create=False)
        stored = self._stored_or_error(channel, ts)
        if stored.get("bot_id") != self.bot_id:
            raise _SlackError("cant_update_message")
        content = self._message_content(params)
        if "markdown_text" in content:
            stored.pop("blocks", None)
            stored["text"] = ""
        elif "text" in content or "blocks" in content:
            stored.pop("markdown_text", None)
            stored.pop("chunks", None)
        if stored.get("stream_state") == "in_progress":
            stored["stream_state"] = "completed"
        for key, value in content.items():
            stored[key] = value
        if "blocks" in params and not content.get("blocks"):
            stored.pop("blocks", None)
        stored["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "channel": channel,
            "ts": ts,
            "text": stored.get("text", ""),
            "message": self._public(stored),
        }

    def _m_chat_delete(self, params: JSONDict) -> JSONDict:
        channel = self._require(params, "channel", "channel_not_found")
        ts = self._require(params, "ts", "message_not_found")
        self._ensure_channel(channel, create=False)
        stored = self._stored_or_error(channel, ts)
        if stored.get("bot_id") != self.bot_id:
            raise _SlackError("cant_delete_message")
        self._deleted.append({"channel": channel, **copy.deepcopy(stored)})
        msgs = self._messages[channel]
        if stored.get("reply_count"):
            # A parent with replies stays behind as a tombstone, as in Slack.
            for key in ("bot_id", "app_id", "blocks", "markdown_text", "files", "metadata"):
                stored.pop(key, None)
            stored.update({"subtype": "tombstone", "text": "This message was deleted."})
        else:
            msgs.remove(stored)
            root = stored.get("thread_ts")
            parent = self._find_message(channel, root) if root and root != ts else None
            if parent is not None and parent.get("reply_count"):
                parent["reply_count"] = int(parent["reply_count"]) - 1
        return {"channel": channel, "ts": ts}

    def _m_chat_post_ephemeral(self, params: JSONDict) -> JSONDict:
        channel = self._require(params, "channel", "channel_not_found")
        user = self._require(params, "user", "user_not_in_channel")
        self._ensure_channel(channel, create=True)
        content = self._message_content(params)
        ts = self._next_ts()
        self._ephemerals.append(
            {
                "channel": channel,
                "user": user,
                "message_ts": ts,
                "thread_ts": params.get("thread_ts") or None,
                "text": content.get("text", ""),
                "blocks": content.get("blocks", []),
                "markdown_text": content.get("markdown_text"),
            }
        )
        return {"message_ts": ts}

    def _m_chat_get_permalink(self, params: JSONDict) -> JSONDict:
        channel = self._require(params, "channel", "channel_not_found")
        ts = self._require(params, "message_ts", "message_not_found")
        self._ensure_channel(channel, create=True)
        stored = self._find_message(channel, ts)
        if stored is None and self.strict:
            raise _SlackError("message_not_found")
        thread_ts = stored.get("thread_ts") if stored is not None else None
        return {"channel": channel, "permalink": self._permalink(channel, ts, thread_ts)}

    @staticmethod
    def _chunk_text(params: Mapping[str, Any]) -> tuple[str, list[JSONDict]]:
        """Markdown carried by ``markdown_text`` or ``chunks`` (plus the raw chunks)."""
        raw = FakeSlack._json_param(params, "chunks", "invalid_chunks") or []
        if not isinstance(raw, list):
            raise _SlackError("invalid_chunks")
        chunks = [c for c in raw if isinstance(c, dict)]
        text = str(params.get("markdown_text") or "")
        text += "".join(str(c.get("text", "")) for c in chunks if c.get("type") == "markdown_text")
        if len(text) > MAX_MARKDOWN_CHARS:
            raise _SlackError("msg_too_long")
        return text, chunks

    def _m_chat_start_stream(self, params: JSONDict) -> JSONDict:
        channel = self._require(params, "channel", "channel_not_found")
        thread_ts = self._require(params, "thread_ts")
        info = self._ensure_channel(channel, create=True)
        if not info.get("is_im"):
            for key in ("recipient_team_id", "recipient_user_id"):
                self._require(params, key)
        text, chunks = self._chunk_text(params)
        message = self._bot_message({"markdown_text": text})
        message["markdown_text"] = text
        message["stream_state"] = "in_progress"
        message["stream_started"] = self.clock()
        if chunks:
            message["chunks"] = chunks
        stored = self._store_message(channel, message, thread_ts)
        return {"channel": channel, "ts": stored["ts"]}

    def _streaming_message(self, params: JSONDict) -> tuple[str, JSONDict]:
        channel = self._require(params, "channel", "channel_not_found")
        ts = self._require(params, "ts", "message_not_found")
        self._ensure_channel(channel, create=False)
        stored = self._stored_or_error(channel, ts)
        started = stored.get("stream_started")
        if (
            stored.get("stream_state") == "in_progress"
            and isinstance(started, float)
            and self.clock() - started > self.stream_expiry_seconds
        ):
            stored["stream_state"] = "expired"
        if stored.get("stream_state") != "in_progress":
            raise _SlackError("message_not_in_streaming_state")
        return channel, stored

    def _append_chunks(self, stored: JSONDict, params: JSONDict) -> None:
        text, chunks = self._chunk_text(params)
        if len(str(stored.get("markdown_text") or "")) + len(text) > MAX_MARKDOWN_CHARS:
            raise _SlackError("msg_too_long")  # one message's Markdown budget, streamed or not
        stored["markdown_text"] = str(stored.get("markdown_text") or "") + text
        if chunks:
            stored.setdefault("chunks", []).extend(chunks)

    def _m_chat_append_stream(self, params: JSONDict) -> JSONDict:
        channel, stored = self._streaming_message(params)
        self._append_chunks(stored, params)
        return {"channel": channel, "ts": stored["ts"]}

    def _m_chat_stop_stream(self, params: JSONDict) -> JSONDict:
        channel, stored = self._streaming_message(params)
        self._append_chunks(stored, params)
        content = self._message_content(
            {k: params[k] for k in ("blocks", "metadata") if k in params}, require=False
        )
        stored.update(content)
        stored["stream_state"] = "completed"
        return {"channel": channel, "ts": stored["ts"], "message": self._public(stored)}

    def _m_conversations_replies(self, params: JSONDict) -> JSONDict:
        channel = self._require(params, "channel", "channel_not_found")
        ts = self._require(params, "ts", "thread_not_found")
        self._ensure_channel(channel, create=True)
        root = self._thread_root(channel, ts)
        parent = self._find_message(channel, root)
        if parent is None:
            raise _SlackError("thread_not_found")
        limit = max(1, min(self._int_param(params, "limit", _DEFAULT_REPLIES_LIMIT), 1000))
        include_metadata = _truthy(params.get("include_all_metadata"))
        oldest = _ts_key(str(params.get("oldest") or "0"))
        latest = _ts_key(str(params["latest"])) if params.get("latest") else None
        inclusive = _truthy(params.get("inclusive"))

        def in_range(msg: JSONDict) -> bool:
            key = _ts_key(msg["ts"])
            low_ok = key >= oldest if inclusive else key > oldest
            high_ok = latest is None or (key <= latest if inclusive else key < latest)
            return low_ok and high_ok

        replies = [
            m
            for m in self._messages[channel]
            if m.get("thread_ts") == root and m["ts"] != root and in_range(m)
        ]
        cursor = params.get("cursor")
        if cursor:
            start = _ts_key(_decode_cursor(str(cursor)))
            page_source = [m for m in replies if _ts_key(m["ts"]) >= start]
        else:
            page_source = [parent, *replies]
        page = page_source[:limit]
        rest = page_source[limit:]
        result: JSONDict = {
            "messages": [self._public(m, include_metadata=include_metadata) for m in page],
            "has_more": bool(rest),
        }
        if rest:
            result["response_metadata"] = {"next_cursor": _encode_cursor(rest[0]["ts"])}
        return result

    def _m_conversations_history(self, params: JSONDict) -> JSONDict:
        channel = self._require(params, "channel", "channel_not_found")
        self._ensure_channel(channel, create=True)
        limit = max(1, min(self._int_param(params, "limit", _DEFAULT_HISTORY_LIMIT), 999))
        include_metadata = _truthy(params.get("include_all_metadata"))
        oldest = _ts_key(str(params.get("oldest") or "0"))
        latest = _ts_key(str(params["latest"])) if params.get("latest") else None
        inclusive = _truthy(params.get("inclusive"))
        visible = [
            m
            for m in self._messages[channel]
            if not m.get("thread_ts")
            or m["thread_ts"] == m["ts"]
            or m.get("subtype") == "thread_broadcast"
        ]
        visible.sort(key=lambda m: _ts_key(m["ts"]), reverse=True)

        def in_range(msg: JSONDict) -> bool:
            key = _ts_key(msg["ts"])
            low_ok = key >= oldest if inclusive else key > oldest
            high_ok = latest is None or (key <= latest if inclusive else key < latest)
            return low_ok and high_ok

        visible = [m for m in visible if in_range(m)]
        cursor = params.get("cursor")
        if cursor:
            start = _ts_key(_decode_cursor(str(cursor)))
            visible = [m for m in visible if _ts_key(m["ts"]) <= start]
        page, rest = visible[:limit], visible[limit:]
        result: JSONDict = {
            "messages": [self._public(m, include_metadata=include_metadata) for m in page],
            "has_more": bool(rest),
            "pin_count": 0,
        }
        if rest:  # optional in Slack's response types: only a page with more after it has it
            result["response_metadata"] = {"next_cursor": _encode_cursor(rest[0]["ts"])}
        return result

    def _m_conversations_info(self, params: JSONDict) -> JSONDict:
        channel = self._require(params, "channel", "channel_not_found")
        info = copy.deepcopy(self._ensure_channel(channel, create=True))
        if _truthy(params.get("include_num_members")) and not info.get("is_im"):
            info["num_members"] = 2
        return {"channel": info}

    def _reaction_args(self, params: JSONDict) -> tuple[str, str, str]:
        channel = self._require(params, "channel", "channel_not_found")
        ts = self._require(params, "timestamp", "message_not_found")
        name = self._require(params, "name", "invalid_name").strip(":")
        self._ensure_channel(channel, create=True)
        if self._find_message(channel, ts) is None and self.strict:
            raise _SlackError("message_not_found")
        return channel, ts, name

    def _m_reactions_add(self, params: JSONDict) -> JSONDict:
        channel, ts, name = self._reaction_args(params)
        entry = {"channel": channel, "ts": ts, "name": name, "user": self.bot_user_id}
        if entry in self._reactions:
            raise _SlackError("already_reacted")
        self._reactions.append(entry)
        stored = self._find_message(channel, ts)
        if stored is not None:
            reactions: list[JSONDict] = stored.setdefault("reactions", [])
            for reaction in reactions:
                if reaction["name"] == name:
                    reaction["users"].append(self.bot_user_id)
                    reaction["count"] += 1
                    break
            else:
                reactions.append({"name": name, "users": [self.bot_user_id], "count": 1})
        return {}

    def _m_reactions_remove(self, params: JSONDict) -> JSONDict:
        channel, ts, name = self._reaction_args(params)
        entry = {"channel": channel, "ts": ts, "name": name, "user": self.bot_user_id}
        if entry not in self._reactions:
            raise _SlackError("no_reaction")
        self._reactions.remove(entry)
        stored = self._find_message(channel, ts)
        if stored is not None:
            reactions = stored.get("reactions", [])
            for reaction in list(reactions):
                if reaction["name"] == name and self.bot_user_id in reaction["users"]:
                    reaction["users"].remove(self.bot_user_id)
                    reaction["count"] -= 1
                    if reaction["count"] <= 0:
                        reactions.remove(reaction)
            if not reactions:
                stored.pop("reactions", None)
        return {}

    def _m_users_info(self, params: JSONDict) -> JSONDict:
        user_id = self._require(params, "user", "user_not_found")
        user = self._users.get(user_id)
        if user is None:
            raise _SlackError("user_not_found")
        return {"user": copy.deepcopy(user)}

    def _m_usergroups_list(self, params: JSONDict) -> JSONDict:
        include_users = _truthy(params.get("include_users"))
        include_count = _truthy(params.get("include_count"))
        include_disabled = _truthy(params.get("include_disabled"))
        listed: list[JSONDict] = []
        for group in self._usergroups.values():
            if group["date_delete"] and not include_disabled:
                continue
            shown = {k: copy.deepcopy(v) for k, v in group.items() if k != "users"}
            if include_users:
                shown["users"] = list(group["users"])
            if include_count:
                shown["user_count"] = len(group["users"])
            listed.append(shown)
        return {"usergroups": listed}

    def _m_usergroups_users_list(self, params: JSONDict) -> JSONDict:
        usergroup_id = self._require(params, "usergroup")
        group = self._usergroups.get(usergroup_id)
        # The fake treats a disabled group as unknown unless include_disabled is set.
        if group is None or (group["date_delete"] and not _truthy(params.get("include_disabled"))):
            raise _SlackError("no_such_subteam")
        return {"users": list(group["users"])}

    def _m_assistant_set_status(self, params: JSONDict) -> JSONDict:
        channel_id = self._require(params, "channel_id")
        thread_ts = self._require(params, "thread_ts")
        if "status" not in params:
            self._require(params, "status")
        loading = self._json_param(params, "loading_messages", "invalid_arguments")
        if loading is not None and (not isinstance(loading, list) or len(loading) > 10):
            raise _SlackError("invalid_arguments")
        record = {k: v for k, v in params.items() if k != "team_id"}
        if loading is not None:
            record["loading_messages"] = loading
        self._statuses.append(copy.deepcopy(record))
        status = str(params.get("status") or "")
        if status:
            self._current_status[(channel_id, thread_ts)] = status
        else:
            self._current_status.pop((channel_id, thread_ts), None)
        return {}

    def _m_assistant_set_title(self, params: JSONDict) -> JSONDict:
        self._require(params, "channel_id")
        self._require(params, "thread_ts")
        self._require(params, "title")
        return {}

    def _m_assistant_set_prompts(self, params: JSONDict) -> JSONDict:
        self._require(params, "channel_id")
        prompts = self._json_param(params, "prompts", "invalid_arguments")
        if not isinstance(prompts, list) or not prompts:
            raise _SlackError("invalid_arguments")
        return {}

    def _m_agents_sessions_set_status(self, params: JSONDict) -> JSONDict:
        channel_id = self._require(params, "channel_id")
        thread_ts = str(params.get("thread_ts") or "")
        status = self._require(params, "status")
        if status not in SESSION_STATUSES:
            raise _SlackError("invalid_arguments")
        session = self._sessions.setdefault(
            (channel_id, thread_ts), {"status": None, "title": None, "history": []}
        )
        session["status"] = status
        session["history"].append(status)
        if params.get("title"):
            session["title"] = str(params["title"])
        if params.get("initiator_user_id"):
            session.setdefault("initiator_user_id", str(params["initiator_user_id"]))
        return {}

    def _m_agents_sessions_rename(self, params: JSONDict) -> JSONDict:
        channel_id = self._require(params, "channel_id")
        title = self._require(params, "title")
        key = (channel_id, str(params.get("thread_ts") or ""))
        if key not in self._sessions:
            raise _SlackError("session_not_found")
        self._sessions[key]["title"] = title
        return {}

    def _m_views_publish(self, params: JSONDict) -> JSONDict:
        user_id = self._require(params, "user_id")
        view = self._json_param(params, "view", "invalid_arguments")
        if not isinstance(view, dict) or view.get("type") != "home":
            raise _SlackError("invalid_arguments")
        blocks = view.get("blocks")
        if not isinstance(blocks, list) or any(
            not isinstance(b, dict) or not b.get("type") for b in blocks
        ):
            raise _SlackError("invalid_blocks")
        if len(blocks) > MAX_VIEW_BLOCKS:
            raise _SlackError("invalid_blocks")
        view_id = self._home_views.get(user_id, {}).get("id") or f"V{next(self._file_seq):08d}"
        published: JSONDict = {
            "id": view_id,
            "team_id": self.team_id,
            "type": "home",
            "blocks": copy.deepcopy(blocks),
            "private_metadata": str(view.get("private_metadata") or ""),
            "callback_id": str(view.get("callback_id") or ""),
            "state": {"values": {}},
            "hash": uuid.uuid4().hex[:20],
            "clear_on_close": False,
            "notify_on_close": False,
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": self.app_id,
            "external_id": str(view.get("external_id") or ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        self._home_views[user_id] = published
        return {"view": copy.deepcopy(published)}

    def _m_files_get_upload_url(self, params: JSONDict) -> JSONDict:
        filename = self._require(params, "filename")
        length = self._int_param(params, "length", -1)
        if length < 0:
            self._require(params, "length")
        file_id = f"F{next(self._file_seq):08d}"
        self._uploads[file_id] = _PendingUpload(
            file_id=file_id,
            filename=filename,
            length=length,
            alt_txt=params.get("alt_txt"),
            snippet_type=params.get("snippet_type"),
        )
        return {"upload_url": f"{self.base_url}/upload/v1/{file_id}", "file_id": file_id}

    def _m_files_complete_upload(self, params: JSONDict) -> JSONDict:
        entries = self._json_param(params, "files", "invalid_arguments")
        if not isinstance(entries, list) or not entries:
            raise _SlackError("invalid_arguments")
        targets: list[str] = []
        if params.get("channel_id"):
            targets.append(str(params["channel_id"]))
        if params.get("channels"):
            targets.extend(c.strip() for c in str(params["channels"]).split(",") if c.strip())
        for channel in targets:
            self._ensure_channel(channel, create=True)
        thread_ts = params.get("thread_ts") or None
        public_files: list[JSONDict] = []
        records: list[JSONDict] = []
        for entry in entries:
            if not isinstance(entry, dict) or not entry.get("id"):
                raise _SlackError("invalid_arguments")
            pending = self._uploads.get(str(entry["id"]))
            if pending is None or pending.content is None:
                raise _SlackError("file_not_found")
            title = str(entry.get("title") or pending.filename)
            mimetype = mimetypes.guess_type(pending.filename)[0] or "text/plain"
            extension = pending.filename.rpartition(".")[2] if "." in pending.filename else ""
            created = int(time.time())
            public: JSONDict = {
                "id": pending.file_id,
                "created": created,
                "timestamp": created,
                "name": pending.filename,
                "title": title,
                "mimetype": mimetype,
                "filetype": pending.snippet_type or extension or "text",
                "user": self.bot_user_id,
                "user_team": self.team_id,
                "size": len(pending.content),
                "mode": "snippet" if pending.snippet_type else "hosted",
                "is_external": False,
                "is_public": bool(targets),
                "url_private": (
                    f"https://files.slack.com/files-pri/{self.team_id}-{pending.file_id}/"
                    f"{pending.filename}"
                ),
                "permalink": (
                    f"https://{self.team_domain}.slack.com/files/{self.bot_user_id}/"
                    f"{pending.file_id}/{pending.filename}"
                ),
                "channels": list(targets),
            }
            if pending.alt_txt:
                public["alt_txt"] = pending.alt_txt
            public_files.append(public)
            records.append(
                {
                    "id": pending.file_id,
                    "name": pending.filename,
                    "title": title,
                    "mimetype": mimetype,
                    "filetype": public["filetype"],
                    "size": len(pending.content),
                    "declared_length": pending.length,
                    "content": pending.content,
                    "alt_txt": pending.alt_txt,
                    "snippet_type": pending.snippet_type,
                    "highlight_type": entry.get("highlight_type"),
                    "initial_comment": params.get("initial_comment"),
                    "channel": targets[0] if targets else None,
                    "channels": list(targets),
                    "thread_ts": thread_ts,
                    "shared_ts": {},
                }
            )
            del self._uploads[pending.file_id]
        for channel in targets:
            message = self._bot_message({"text": params.get("initial_comment") or ""})
            message["files"] = copy.deepcopy(public_files)
            message["upload"] = True
            stored = self._store_message(channel, message, thread_ts)
            for record in records:
                record["shared_ts"][channel] = stored["ts"]
        self._files.extend(records)
        return {"files": public_files}


def _short(text: str, limit: int = 160) -> str:
    """Shorten ``text`` for `FakeSlack.dump`."""
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"
