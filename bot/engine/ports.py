"""What the engine needs from an adapter: a way to post replies and to show it is working."""

from typing import Protocol

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
