"""A turn shown live in its thread: the model's words streamed, a plan step per tool call.

Built on slack_sdk's `ChatStream` (chat.startStream / appendStream / stopStream). Slack ends
a stream after about five minutes and a message takes 12,000 characters of streamed
Markdown, so the preview stops itself before either; the stored reply later replaces the
streamed message (`SlackPoster` adopts it by ts). Any refusal from Slack ends the preview
quietly: the reply is then posted as usual.
"""

import logging
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.messages.chunk import Chunk, PlanUpdateChunk, TaskUpdateChunk

from bot.engine.views import ThreadRef

log = logging.getLogger(__name__)

STREAM_SECONDS = 240.0  # Slack expires streams after about 300 s: finish well before
TEXT_BUDGET = 11_000  # streamed Markdown per message is capped at 12,000 characters
TITLE_CHARS = 150


class StreamedTurn:
    """The engine's TurnPreview for Slack."""

    def __init__(
        self,
        client: WebClient,
        *,
        thread: ThreadRef,
        remember: Callable[[str], None],
        stream_seconds: float = STREAM_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = client.chat_stream(
            channel=thread.channel_id,
            thread_ts=thread.thread_ts,
            # Channel streams are shown to one person; DMs ignore these.
            recipient_team_id=thread.team_id,
            recipient_user_id=thread.requester_id,
            task_display_mode="plan",
        )
        self._remember = remember
        self._stream_seconds = stream_seconds
        self._clock = clock
        self._started: float | None = None
        self._written = 0
        self._planned = False
        self._over = False

    @property
    def ts(self) -> str | None:
        """The streamed message's ts, once Slack shows it."""
        return self._stream.ts

    def write(self, text: str) -> None:
        """Stream more of the model's words (up to the message's Markdown budget)."""
        room = TEXT_BUDGET - self._written
        if not text or room <= 0:
            return
        self._written += min(len(text), room)
        self._send(lambda: self._stream.append(markdown_text=text[:room]))

    def step(self, *, key: str, title: str, done: bool, failed: bool = False) -> None:
        """Show a tool call as a task of the turn's plan."""
        status = "error" if failed else "complete" if done else "in_progress"
        chunks: list[Chunk] = []
        if not self._planned:
            chunks.append(PlanUpdateChunk(title="Working on it"))
            self._planned = True
        chunks.append(TaskUpdateChunk(id=key[:64], title=title[:TITLE_CHARS], status=status))
        self._send(lambda: self._stream.append(chunks=chunks))

    def end(self) -> None:
        """Stop streaming; words still buffered and never shown are left to the reply."""
        if self._over or self._stream.ts is None:
            self._over = True
            return
        self._over = True
        try:
            self._stream.stop()
        except Exception as error:  # a preview never takes the turn down
            log.info("could not stop the stream: %s", _reason(error))

    def _send(self, call: Callable[[], object]) -> None:
        if self._over:
            return
        if self._started is not None and self._clock() - self._started > self._stream_seconds:
            self.end()  # the reply will replace the message with chat.update
            return
        try:
            call()
        except Exception as error:  # Slack refused, or could not be reached: a preview
            # never takes the turn down; the reply is posted as usual
            log.info("streaming stopped (%s); the reply will be posted as usual", _reason(error))
            self._over = True
            return
        if self._started is None and self._stream.ts is not None:
            self._started = self._clock()
            self._remember(self._stream.ts)


def _reason(error: Exception) -> str:
    if isinstance(error, SlackApiError):
        return str(error.response.get("error"))
    return str(error)
