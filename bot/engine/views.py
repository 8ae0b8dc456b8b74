"""What the engine hands adapters: plain, frozen copies of the rows they show, so adapters
never hold (or import) the database's tables."""

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeVar

from bot.store.models import (
    ChannelSetting,
    Conversation,
    ConversationStatus,
    Message,
    MessageKind,
    RoutingRecord,
    ScheduledPost,
)

__all__ = [
    "ChannelPost",
    "ChannelView",
    "ConversationStatus",
    "MessageKind",
    "Reply",
    "RouteView",
    "ThreadRef",
    "channel_post_of",
    "channel_view_of",
    "reply_of",
    "route_of",
    "thread_of",
]


@dataclass(frozen=True)
class ThreadRef:
    """A conversation's thread as an adapter sees it."""

    id: int
    team_id: str
    channel_id: str
    thread_ts: str
    requester_id: str
    agent: str | None = None
    title: str = ""
    status: ConversationStatus = ConversationStatus.ROUTING


@dataclass(frozen=True)
class Reply:
    """A stored reply to show in its thread."""

    id: int
    kind: MessageKind
    text: str
    payload: dict[str, Any] | None = None
    author_name: str | None = None
    post_attempted_at: datetime | None = None  # set: an earlier attempt may have reached the chat
    slack_ts: str | None = None  # set: the message is in the chat already, to be edited in place


@dataclass(frozen=True)
class ChannelPost:
    """A scheduler post (a digest) for the top of a channel."""

    key: str
    team_id: str
    channel_id: str
    text: str
    payload: dict[str, Any] | None = None
    post_attempted_at: datetime | None = None  # set: an earlier attempt may have reached the chat


@dataclass(frozen=True)
class ChannelView:
    """A channel's settings as an adapter shows and checks them."""

    team_id: str
    channel_id: str
    default_agent: str | None = None
    intake: bool = False
    allow_bots: bool = False
    monthly_budget_usd: float | None = None


@dataclass(frozen=True)
class RouteView:
    """One routing decision, as `/why` shows it."""

    method: str
    agent: str | None
    confidence: float
    candidates: list[dict[str, Any]]
    reason: str
    ms: float


def thread_of(*, conversation: Conversation) -> ThreadRef:
    """The thread of a stored conversation."""
    assert conversation.id is not None
    return _copy(ThreadRef, conversation)


def reply_of(*, message: Message) -> Reply:
    """The reply of a stored assistant message."""
    assert message.id is not None
    return _copy(Reply, message)


def channel_post_of(*, post: ScheduledPost) -> ChannelPost:
    """The channel post of a stored scheduler post."""
    return _copy(ChannelPost, post)


def channel_view_of(*, setting: ChannelSetting) -> ChannelView:
    """The view of a channel's stored settings."""
    return _copy(ChannelView, setting)


def route_of(*, record: RoutingRecord) -> RouteView:
    """The view of a stored routing decision."""
    return _copy(RouteView, record)


_View = TypeVar("_View", ThreadRef, Reply, ChannelPost, ChannelView, RouteView)


def _copy(view: type[_View], row: object) -> _View:
    """The view's fields, read from the row's columns of the same names."""
    return view(**{field.name: getattr(row, field.name) for field in fields(view)})
