"""What the engine needs from an adapter: a way to post replies and to show it is working."""

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from bot.store.models import Conversation, Message, ScheduledPost


class Poster(Protocol):
    """Delivers stored replies to the chat; implemented by the Slack and shell adapters."""

    def post(self, *, conversation: Conversation, message: Message) -> str | None:
        """Show the message in the conversation's thread; return its chat timestamp, if any.

        Raise to leave the message in the outbox for a later attempt. When
        `message.post_attempted_at` is set, an earlier attempt may have reached the chat
        before the process died: look for it before posting again.
        """
        ...

    def show_working(self, *, conversation: Conversation, activity: str) -> None:
        """A sign of life while the agent works (a status line, a reaction)."""
        ...

    def post_to_channel(self, *, post: ScheduledPost) -> str | None:
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

    def start_preview(
        self, *, conversation: Conversation, remember: Callable[[str], None]
    ) -> TurnPreview:
        """A preview for one turn; `remember(handle)` is called as soon as it shows in the
        chat, so the stored reply can take its place later."""
        ...
