"""Agent sessions: each conversation is a Slack agent session (title, processing / active /
closed), so Slack lists it and shows its native Stop button while a turn runs.

Best effort: a workspace where the app is not an agent (or the method is refused) gets no
further calls from this process, and nothing here ever stops a reply.
"""

import logging
import threading
from collections import OrderedDict

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.engine.views import ConversationStatus, ThreadRef

log = logging.getLogger(__name__)

PROCESSING = "processing"
ACTIVE = "active"
CLOSED = "closed"

_TITLE_CHARS = 100
_REMEMBERED = 5000
# Errors that say this workspace has no agent sessions for this app.
_UNSUPPORTED = frozenset(
    {"unknown_method", "not_allowed", "not_allowed_token_type", "missing_scope", "not_an_agent"}
)


def session_status(status: ConversationStatus) -> str:
    """The agent-session status that shows a conversation's state."""
    if status in (ConversationStatus.ROUTING, ConversationStatus.WORKING):
        return PROCESSING
    if status is ConversationStatus.CLOSED:
        return CLOSED
    return ACTIVE


class AgentSessions:
    """Keeps each thread's agent session in step with its conversation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shown: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self._unsupported: set[str] = set()

    def show(self, client: WebClient, *, thread: ThreadRef, status: str | None = None) -> None:
        """Set the thread's session status (once per change); never raises."""
        wanted = status or session_status(thread.status)
        key = (thread.team_id, thread.channel_id, thread.thread_ts)
        with self._lock:
            if thread.team_id in self._unsupported or self._shown.get(key) == wanted:
                return
            first = key not in self._shown
            self._shown[key] = wanted
            self._shown.move_to_end(key)
            while len(self._shown) > _REMEMBERED:
                self._shown.popitem(last=False)
        try:
            client.agents_sessions_setStatus(
                channel_id=thread.channel_id,
                thread_ts=thread.thread_ts,
                status=wanted,
                title=(thread.title or "Feature request")[:_TITLE_CHARS] if first else None,
                initiator_user_id=thread.requester_id if first else None,
            )
        except SlackApiError as error:
            reason = str(error.response.get("error"))
            with self._lock:
                self._shown.pop(key, None)
                if reason in _UNSUPPORTED:
                    self._unsupported.add(thread.team_id)
            log.info("agent session status not set (%s)", reason)
