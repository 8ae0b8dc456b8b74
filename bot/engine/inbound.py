"""What an adapter hands the engine: one message from a person, in one thread."""

from dataclasses import dataclass, field
from enum import StrEnum


class Source(StrEnum):
    """Where a request came from."""

    MENTION = "mention"
    COMMAND = "command"
    DM = "dm"
    INTAKE = "intake"
    THREAD = "thread"
    SHELL = "shell"


@dataclass(frozen=True)
class PriorMessage:
    """A message written in the thread before the bot was called in (context for the agent)."""

    author_id: str | None
    author_name: str | None
    text: str
    ts: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    """A person's message for agentdesk; `event_keys` make retries and double deliveries no-ops."""

    team_id: str
    channel_id: str
    thread_ts: str
    ts: str
    user_id: str
    text: str
    source: Source
    user_name: str | None = None
    explicit_agent: str | None = None
    event_keys: tuple[str, ...] = ()
    prior_messages: tuple[PriorMessage, ...] = field(default=())
    start_conversation: bool = True  # False: only continue an existing conversation
    answers_question: bool = False  # an answer button: taken only while the agent is asking
