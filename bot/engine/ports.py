"""What the engine needs from an adapter: a way to post replies and to show it is working."""

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bot.engine.views import ChannelPost, Reply, ThreadRef

if TYPE_CHECKING:
    from sqlmodel import Session

    from bot.store.models import Conversation, Message


class Poster(Protocol):
    """Delivers stored replies to the chat; implemented by the Slack and shell adapters."""

    def post(self, *, thread: ThreadRef, reply: Reply) -> str | None:
        """Show the reply in its thread; return its chat timestamp, if any.

        Raise to leave the reply in the outbox for a later attempt. When
        `reply.post_attempted_at` is set, an earlier attempt may have reached the chat
        before the process died: look for it before posting again.
        """
        ...

    def show_working(self, *, thread: ThreadRef, activity: str) -> None:
        """A sign of life while the agent works (a status line, a reaction)."""
        ...

    def post_to_channel(self, *, post: ChannelPost) -> str | None:
        """Post a scheduler message (a digest) at the top of its channel; return its ts."""
        ...


class TurnPreview(Protocol):
    """A running turn shown live in the chat (streamed text, progress steps).

    Never raises: a chat that stops taking the preview only ends it. The stored reply
    replaces the preview when it is posted (the poster finds it by the handle the
    preview reported through `remember`).
    """

    def write(self, text: str) -> None:
        """Show more of the model's words."""
        ...

    def step(self, *, key: str, title: str, done: bool, failed: bool = False) -> None:
        """Show a progress step (a file read, a search) starting or finishing."""
        ...

    def end(self) -> None:
        """The turn is over: stop the live preview (the stored reply comes next)."""
        ...


@runtime_checkable
class Previewer(Protocol):
    """A poster that can show turns while they run (Slack streams them)."""

    def start_preview(self, *, thread: ThreadRef, remember: Callable[[str], None]) -> TurnPreview:
        """A preview for one turn; `remember(handle)` is called as soon as it shows in the
        chat, so the stored reply can take its place later."""
        ...


class GroupDirectory(Protocol):
    """The chat's user groups, for sign-off rules that name a group (Slack's user groups)."""

    def members(self, *, team_id: str, group_id: str) -> frozenset[str]:
        """The user ids in a group (empty when it is unknown or can't be read)."""
        ...

    def groups_by_handle(self, *, team_id: str) -> dict[str, str]:
        """Every group's id by its handle (`backend` → `S0123`)."""
        ...


class FollowUpRuns(Protocol):
    """Work that continues outside the agent's turns (an implementation run's pull request),
    asked for by a reply in the thread; intake offers it each stored reply first."""

    def take(self, session: "Session", conversation: "Conversation", message: "Message") -> bool:
        """Queue what the stored `message` asks of that work, in intake's transaction; False
        when the reply is for the agent."""
        ...
