"""The tables: conversations, their messages, pending work, routing decisions, channel settings.

No `from __future__ import annotations` here: SQLModel reads the annotations at runtime.
"""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, SQLModel

from bot.store.types import UTCDateTime, enum_column


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def _timestamp(*, index: bool = False, nullable: bool = False) -> Any:
    """A timezone-aware UTC column: now by default, or empty when nullable."""
    if nullable:
        return Field(default=None, sa_type=UTCDateTime, nullable=True)
    return Field(default_factory=utcnow, sa_type=UTCDateTime, index=index)


class ConversationStatus(StrEnum):
    """Where a conversation stands (see docs/architecture.md, "Conversation states")."""

    ROUTING = "routing"
    CHOOSING_AGENT = "choosing_agent"
    WORKING = "working"
    AWAITING_USER = "awaiting_user"
    DELIVERED = "delivered"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    FAILED = "failed"


OPEN_STATUSES = (
    ConversationStatus.ROUTING,
    ConversationStatus.CHOOSING_AGENT,
    ConversationStatus.WORKING,
    ConversationStatus.AWAITING_USER,
    ConversationStatus.FAILED,
)


class MessageRole(StrEnum):
    """Who a message comes from, as the model sees it."""

    USER = "user"
    ASSISTANT = "assistant"


class MessageKind(StrEnum):
    """What an assistant message is, so adapters can render it."""

    TEXT = "text"  # plain words, from a person or the agent
    QUESTIONS = "questions"  # clarifying questions (payload: questions with choices)
    DELIVERABLE = "deliverable"  # the design and plan (payload: title, summary, document)
    CHOOSE_AGENT = "choose_agent"  # the router asks the requester (payload: candidates)
    NOTICE = "notice"  # platform notes: no agent fits, cancelled, handed over
    FAILURE = "failure"  # a turn failed (payload: reason); adapters offer Retry
    REMINDER = "reminder"  # a nudge to the requester (payload: requester_id, questions)
    CARD = "card"  # the requirement card: one per conversation, edited in place (payload: state)


class PostState(StrEnum):
    """Whether an assistant message has reached the chat yet."""

    PENDING = "pending"
    POSTED = "posted"
    NOT_POSTED = "not_posted"  # user messages, and messages the adapter never shows


class WorkStatus(StrEnum):
    """A pending agent turn's progress."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Conversation(SQLModel, table=True):
    """One thread, worked by at most one agent at a time."""

    __table_args__ = (
        sa.UniqueConstraint("team_id", "channel_id", "thread_ts", name="uq_conversation_thread"),
        sa.Index("ix_conversation_status_activity", "status", "last_activity_at"),
        sa.Index("ix_conversation_requester", "requester_id", "status"),
        sa.Index("ix_conversation_channel_updated", "team_id", "channel_id", "updated_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    channel_id: str = Field(max_length=32)
    thread_ts: str = Field(max_length=32)
    source: str = Field(default="mention", max_length=16)
    agent: str | None = Field(default=None, max_length=200)
    status: ConversationStatus = Field(
        default=ConversationStatus.ROUTING, sa_type=enum_column(ConversationStatus, 20)
    )
    failure_reason: str | None = Field(default=None, sa_type=sa.Text)
    requester_id: str = Field(max_length=32)
    requester_name: str | None = Field(default=None, max_length=200)
    title: str = Field(default="", max_length=300)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
    last_activity_at: datetime = _timestamp()
    awaiting_since: datetime | None = _timestamp(nullable=True)
    reminders_sent: int = 0
    last_reminder_at: datetime | None = _timestamp(nullable=True)
    escalated_at: datetime | None = _timestamp(nullable=True)  # ESCALATE_AFTER's nudge went out
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


class Message(SQLModel, table=True):
    """A message in a conversation: a person's, or one the agent wrote (stored before posting)."""

    __table_args__ = (
        sa.Index("ix_message_conversation", "conversation_id", "id"),
        sa.Index("ix_message_post_state", "post_state", "id"),
        sa.Index("ix_message_slack_ts", "conversation_id", "slack_ts"),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id")
    role: MessageRole = Field(sa_type=enum_column(MessageRole, 12))
    kind: MessageKind = Field(default=MessageKind.TEXT, sa_type=enum_column(MessageKind, 16))
    author_id: str | None = Field(default=None, max_length=32)
    author_name: str | None = Field(default=None, max_length=200)
    text: str = Field(default="", sa_type=sa.Text)
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    slack_ts: str | None = Field(default=None, max_length=32)
    post_state: PostState = Field(default=PostState.NOT_POSTED, sa_type=enum_column(PostState, 12))
    # Edits of a message shown in place (the card): a post counts only for the revision it sent.
    revision: int = 0
    model: str | None = Field(default=None, max_length=100)
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    created_at: datetime = _timestamp()
    post_attempted_at: datetime | None = _timestamp(nullable=True)
    post_claimed_by: str | None = Field(default=None, max_length=100)
    posted_at: datetime | None = _timestamp(nullable=True)


class RequirementCard(SQLModel, table=True):
    """One version of a conversation's requirement card: every change is a new row."""

    __tablename__ = "requirement_card"
    __table_args__ = (
        sa.UniqueConstraint("conversation_id", "version", name="uq_requirement_card_version"),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id")
    version: int
    content: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    author: str = Field(default="", max_length=200)  # the agent that wrote it
    created_at: datetime = _timestamp()


class CardApproval(SQLModel, table=True):
    """A sign-off of one card version; withdrawn when the card changes after it."""

    __tablename__ = "card_approval"
    __table_args__ = (sa.Index("ix_card_approval_conversation", "conversation_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id")
    version: int
    user_id: str = Field(max_length=32)
    user_name: str | None = Field(default=None, max_length=200)
    approved_at: datetime = _timestamp()
    withdrawn_at: datetime | None = _timestamp(nullable=True)
    withdrawn_reason: str | None = Field(default=None, sa_type=sa.Text)


class LeaseState(StrEnum):
    """The two states every leased row shares (`WorkStatus` and `ImplementationStatus` spell
    them alike): waiting to be claimed, and held by one process under a lease."""

    QUEUED = "queued"
    RUNNING = "running"


class LeaseColumns(SQLModel):
    """The columns of a row claimed under a lease (bot/store/queue.py): how often it was
    claimed, who holds it and until when. Turns, stored requests and implementation runs
    share them, and the one set of lease statements that works them."""

    attempts: int = 0
    leased_by: str | None = Field(default=None, max_length=100)
    lease_until: datetime | None = _timestamp(nullable=True)


class PendingWork(LeaseColumns, table=True):
    """A turn to run for a conversation, claimed by one worker at a time under a lease."""

    __tablename__ = "pending_work"
    __table_args__ = (
        sa.Index("ix_pending_work_claim", "status", "available_at"),
        sa.Index("ix_pending_work_finished", "finished_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="message.id")
    status: WorkStatus = Field(default=WorkStatus.QUEUED, sa_type=enum_column(WorkStatus, 12))
    available_at: datetime = _timestamp()
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = _timestamp()
    finished_at: datetime | None = _timestamp(nullable=True)
    # Where the chat shows this turn live (a streamed message's ts); its reply replaces it.
    preview_ts: str | None = Field(default=None, max_length=40)


class InboundEvent(LeaseColumns, table=True):
    """A request from the chat (event, command, click) stored before it is acknowledged.

    Taking it in (reading the person's name and the thread, storing the message and its
    turn) runs after the acknowledgement, from this row, under a lease like a turn's.
    """

    __tablename__ = "inbound_event"
    __table_args__ = (sa.Index("ix_inbound_event_claim", "status", "available_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    kind: str = Field(max_length=16)
    thread_key: str = Field(default="", max_length=100)  # rows of one thread run in order
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: WorkStatus = Field(default=WorkStatus.QUEUED, sa_type=enum_column(WorkStatus, 12))
    available_at: datetime = _timestamp()
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = _timestamp()
    finished_at: datetime | None = _timestamp(nullable=True)


class SeenEvent(SQLModel, table=True):
    """An incoming event already taken in; its key makes retries and double deliveries no-ops."""

    __tablename__ = "seen_event"

    key: str = Field(primary_key=True, max_length=200)
    created_at: datetime = _timestamp(index=True)


class RoutingRecord(SQLModel, table=True):
    """One routing decision: method, candidates with scores, and time taken."""

    __tablename__ = "routing_record"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="message.id")
    method: str = Field(max_length=20)
    agent: str | None = Field(default=None, max_length=200)
    confidence: float = 0.0
    candidates: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    reason: str = Field(default="", sa_type=sa.Text)
    ms: float = 0.0
    created_at: datetime = _timestamp()


class RouteExample(SQLModel, table=True):
    """A request a person gave to an agent (button, `--agent`, hand-over): learned from."""

    __tablename__ = "route_example"
    __table_args__ = (sa.Index("ix_route_example_team", "team_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id")
    text: str = Field(sa_type=sa.Text)
    agent: str = Field(max_length=200)
    source: str = Field(max_length=20)  # button, option, handoff, named
    created_at: datetime = _timestamp()


class ChannelSetting(SQLModel, table=True):
    """Per-channel behaviour: a default agent, intake mode, whether other bots may file requests."""

    __tablename__ = "channel_setting"

    team_id: str = Field(primary_key=True, max_length=32)
    channel_id: str = Field(primary_key=True, max_length=32)
    default_agent: str | None = Field(default=None, max_length=200)
    intake: bool = False
    allow_bots: bool = False
    monthly_budget_usd: float | None = Field(default=None)  # None: CHANNEL_MONTHLY_BUDGET_USD
    updated_at: datetime = _timestamp()


class ScheduledPost(SQLModel, table=True):
    """A top-level post the scheduler makes (a digest); its key makes a period post once."""

    __tablename__ = "scheduled_post"
    __table_args__ = (sa.Index("ix_scheduled_post_state", "post_state", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    team_id: str = Field(max_length=32)
    channel_id: str = Field(max_length=32)
    text: str = Field(default="", sa_type=sa.Text)
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    post_state: PostState = Field(default=PostState.PENDING, sa_type=enum_column(PostState, 12))
    post_attempted_at: datetime | None = _timestamp(nullable=True)
    post_claimed_by: str | None = Field(default=None, max_length=100)
    slack_ts: str | None = Field(default=None, max_length=32)
    created_at: datetime = _timestamp()


class SchedulerLease(SQLModel, table=True):
    """Which process runs the scheduler: one holder at a time, renewed while it lives."""

    __tablename__ = "scheduler_lease"

    name: str = Field(primary_key=True, max_length=50)
    holder: str = Field(max_length=100)
    lease_until: datetime = _timestamp()


# APScheduler's job store table, as apscheduler.jobstores.sqlalchemy defines it: listed here so
# the migrations (0006) make it with the rest of the schema; the job store only finds it.
APSCHEDULER_JOBS = sa.Table(
    "apscheduler_jobs",
    SQLModel.metadata,
    sa.Column("id", sa.Unicode(191), primary_key=True),
    sa.Column("next_run_time", sa.Float(25), index=True),
    sa.Column("job_state", sa.LargeBinary, nullable=False),
)


class ImplementationStatus(StrEnum):
    """An implementation run's progress (see bot/implement)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_IMPLEMENTATION_STATUSES = (ImplementationStatus.QUEUED, ImplementationStatus.RUNNING)


class ImplementationRun(LeaseColumns, table=True):
    """Claude Code building a conversation's plan in a worktree: a durable job under a lease.

    A conversation has one branch and at most one pull request; each run (the first, and one
    per follow-up reply) adds commits to that branch.
    """

    __tablename__ = "implementation_run"
    __table_args__ = (
        sa.Index("ix_implementation_run_claim", "status", "id"),
        sa.Index("ix_implementation_run_conversation", "conversation_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id")
    repo: str = Field(max_length=40)
    branch: str = Field(max_length=200)
    base_branch: str | None = Field(default=None, max_length=200)
    requested_by: str = Field(max_length=32)
    instructions: str = Field(default="", sa_type=sa.Text)
    thread_url: str | None = Field(default=None, max_length=500)
    status: ImplementationStatus = Field(
        default=ImplementationStatus.QUEUED, sa_type=enum_column(ImplementationStatus, 12)
    )
    stop_requested_by: str | None = Field(default=None, max_length=200)
    head_commit: str | None = Field(default=None, max_length=64)
    pr_number: int | None = None
    pr_url: str | None = Field(default=None, max_length=500)
    turns: int = 0
    cost_usd: float = 0.0
    tests_run: bool = False
    outcome: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = _timestamp()
    started_at: datetime | None = _timestamp(nullable=True)
    finished_at: datetime | None = _timestamp(nullable=True)


class ImplementChannel(SQLModel, table=True):
    """A channel where implementation runs are allowed even when IMPLEMENT_ENABLED is off."""

    __tablename__ = "implement_channel"

    team_id: str = Field(primary_key=True, max_length=32)
    channel_id: str = Field(primary_key=True, max_length=32)
    enabled: bool = False
    updated_at: datetime = _timestamp()
