"""Follow-ups the scheduler runs: reminders, auto-close, the digest, and retention.

Each sweep reads due work from the conversation tables and writes its messages to the
outbox in the same transaction as its bookkeeping, so running a sweep twice (or after a
crash half-way) sends nothing twice. Time is passed in, so tests need no sleeping.
"""

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.config import Settings, split_ids
from bot.engine import card_keeping
from bot.engine.calendar import WorkingHours, digest_period, zone
from bot.engine.states import Transition, move
from bot.repos import RepoSet
from bot.store import followup_queries as queries
from bot.store import insights, message_records, pruning
from bot.store.db import session_scope
from bot.store.models import (
    Conversation,
    ConversationStatus,
    Message,
    MessageKind,
    MessageRole,
    PostState,
    ScheduledPost,
)

log = logging.getLogger(__name__)

TimezoneOf = Callable[[str], str | None]
"""A person's IANA time zone by user ID, or None when unknown."""

_ESCALATED_STATUSES = (ConversationStatus.AWAITING_USER, ConversationStatus.DELIVERED)
_IDLE_STATUSES = (
    ConversationStatus.ROUTING,
    ConversationStatus.CHOOSING_AGENT,
    ConversationStatus.AWAITING_USER,
    ConversationStatus.DELIVERED,
    ConversationStatus.FAILED,
)


@dataclass(frozen=True)
class SweepReport:
    """What one sweep did."""

    reminders: int = 0
    escalations: int = 0
    closed: int = 0
    digest: bool = False
    redacted: int = 0
    pruned: int = 0


class FollowUps:
    """The scheduler's jobs, over the database; adapters post what they store."""

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        timezone_of: TimezoneOf,
        repos: RepoSet | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.timezone_of = timezone_of
        self.repos = repos  # where the code owners of a card's paths are read
        self.hours = WorkingHours.parse(
            start_hour=settings.working_hours_start,
            end_hour=settings.working_hours_end,
            days=settings.working_days,
        )

    def sweep(self, now: datetime) -> SweepReport:
        """Every follow-up that is due at `now`."""
        return SweepReport(
            reminders=self.send_reminders(now),
            escalations=self.escalate(now),
            closed=self.auto_close(now),
            digest=self.queue_digest(now),
            redacted=self.apply_retention(now),
            pruned=self.prune(now),
        )

    def prune(self, now: datetime) -> int:
        """Forget seen-event keys, finished turns and taken-in requests past PRUNE_AFTER_DAYS."""
        before = now - timedelta(days=self.settings.prune_after_days)
        return sum(pruning.prune(engine=self.engine, before=before).values())

    # Reminders ------------------------------------------------------------------------------

    def send_reminders(self, now: datetime) -> int:
        """Remind requesters who left questions unanswered for a working day, in their hours."""
        if self.settings.reminder_max <= 0:
            return 0
        threshold = timedelta(hours=self.settings.reminder_after_working_hours)
        waiting = queries.awaiting_since_before(
            engine=self.engine, before=now - threshold, reminders_below=self.settings.reminder_max
        )
        sent = 0
        for conversation_id, requester_id in waiting:
            tz = zone(self.timezone_of(requester_id), fallback=self.settings.default_timezone)
            if not self.hours.contains(now, tz):
                continue
            if self._remind(conversation_id, now=now, threshold=threshold, tz_name=str(tz)):
                sent += 1
        return sent

    def _remind(
        self, conversation_id: int, *, now: datetime, threshold: timedelta, tz_name: str
    ) -> bool:
        with session_scope(self.engine) as session:
            conversation = queries.lock_conversation(
                session=session, conversation_id=conversation_id
            )
            if (
                conversation is None
                or conversation.status is not ConversationStatus.AWAITING_USER
                or conversation.reminders_sent >= self.settings.reminder_max
                or conversation.awaiting_since is None
            ):
                return False
            since = max(
                conversation.awaiting_since,
                conversation.last_reminder_at or conversation.awaiting_since,
            )
            if self.hours.elapsed(since, now, zone(tz_name)) < threshold:
                return False
            questions = _open_questions(session, conversation_id)
            number = conversation.reminders_sent + 1
            lines = [
                "A gentle reminder: I'm waiting for your answers before I go on."
                if questions
                else "A gentle reminder: I'm waiting for your reply before I go on."
            ]
            lines += [f"{i}. {q}" for i, q in enumerate(questions, start=1)]
            if number == self.settings.reminder_max:
                lines.append("This is my last reminder; reply any time to pick it up again.")
            message_records.add_message(
                session=session,
                message=Message(
                    conversation_id=conversation_id,
                    role=MessageRole.ASSISTANT,
                    kind=MessageKind.REMINDER,
                    text="\n".join(lines),
                    payload={
                        "requester_id": conversation.requester_id,
                        "questions": questions,
                        "number": number,
                    },
                    post_state=PostState.PENDING,
                ),
            )
            conversation.reminders_sent = number
            conversation.last_reminder_at = now
            return True

    # Escalation -----------------------------------------------------------------------------

    def escalate(self, now: datetime) -> int:
        """Ask the approvers (or the channel's creator) to step in where questions or a card's
        sign-off waited ESCALATE_AFTER working hours; once per wait."""
        if self.settings.escalate_after <= 0:
            return 0
        threshold = timedelta(hours=self.settings.escalate_after)
        waiting = queries.idle_conversation_ids(
            engine=self.engine, statuses=_ESCALATED_STATUSES, before=now - threshold
        )
        return sum(self._escalate(conversation_id, now, threshold) for conversation_id in waiting)

    def _escalate(self, conversation_id: int, now: datetime, threshold: timedelta) -> bool:
        with session_scope(self.engine) as session:
            conversation = queries.lock_conversation(
                session=session, conversation_id=conversation_id
            )
            if conversation is None or conversation.status not in _ESCALATED_STATUSES:
                return False
            wait = card_keeping.waiting_for(session, conversation)
            if wait is None or (
                conversation.escalated_at is not None and conversation.escalated_at >= wait.since
            ):
                return False
            tz = zone(
                self.timezone_of(conversation.requester_id),
                fallback=self.settings.default_timezone,
            )
            if self.hours.elapsed(wait.since, now, tz) < threshold:
                return False
            rule = card_keeping.rule_for(
                session, conversation, settings=self.settings, repos=self.repos
            )
            named = (
                rule.user_ids | rule.group_ids
                if wait.sign_off and rule.user_ids != {conversation.requester_id}
                else split_ids(self.settings.approvers)
            ) - {conversation.requester_id}
            hours = self.settings.escalate_after
            message_records.add_message(
                session=session,
                message=Message(
                    conversation_id=conversation_id,
                    role=MessageRole.ASSISTANT,
                    kind=MessageKind.REMINDER,
                    text=f"This request has waited {hours:g} working hours for {wait.what}. "
                    "Could you help it along?",
                    payload={
                        "escalate_to": sorted(named),
                        "channel_creator": not named,
                        "sign_off": wait.sign_off,
                    },
                    post_state=PostState.PENDING,
                ),
            )
            conversation.escalated_at = now
            return True

    # Auto-close -------------------------------------------------------------------------------

    def auto_close(self, now: datetime) -> int:
        """Close conversations idle longer than the set time, saying how to reopen them."""
        cutoff = now - timedelta(days=self.settings.auto_close_after_days)
        idle = queries.idle_conversation_ids(
            engine=self.engine, statuses=_IDLE_STATUSES, before=cutoff
        )
        closed = 0
        for conversation_id in idle:
            with session_scope(self.engine) as session:
                conversation = queries.lock_conversation(
                    session=session, conversation_id=conversation_id
                )
                if (
                    conversation is None
                    or conversation.status not in _IDLE_STATUSES
                    or conversation.last_activity_at >= cutoff
                ):
                    continue
                assert conversation.id is not None
                days = self.settings.auto_close_after_days
                message_records.add_message(
                    session=session,
                    message=Message(
                        conversation_id=conversation.id,
                        role=MessageRole.ASSISTANT,
                        kind=MessageKind.NOTICE,
                        text=(
                            f"Closing this thread after {days:g} days without activity. "
                            "Reply here to reopen it."
                        ),
                        post_state=PostState.PENDING,
                    ),
                )
                if move(conversation, Transition.CLOSE):
                    closed += 1
        return closed

    # Digest ---------------------------------------------------------------------------------------

    def queue_digest(self, now: datetime) -> bool:
        """Store the period's digest for each digest channel once it is due; False when none
        was stored. Each digest covers only its own workspace's requests."""
        if not self.settings.digest_channel:
            return False
        since, until = digest_period(
            now=now,
            hour=self.settings.digest_hour,
            weekly=self.settings.digest_frequency == "weekly",
            tz=zone(self.settings.digest_timezone),
        )
        queued = False
        for team, channel in digest_targets(self.settings.digest_channel):
            key = f"digest:{channel}:{until.date().isoformat()}"
            with session_scope(self.engine) as session:
                if queries.scheduled_post_exists(session=session, key=key):
                    continue
                team_id = team if team is not None else _only_team(session, channel)
                if team_id is None:
                    log.warning(
                        "DIGEST_CHANNEL %s names no workspace and several are served: "
                        "write it as TEAM_ID:%s",
                        channel,
                        channel,
                    )
                    continue
                payload = _digest_payload(
                    session, team_id=team_id, since=since, until=until, now=now
                )
                post = ScheduledPost(
                    key=key,
                    team_id=team_id,
                    channel_id=channel,
                    text=render_digest(payload),
                    payload=payload,
                )
                if not queries.add_scheduled_post(session=session, post=post):
                    continue  # another scheduler stored it first
            queued = True
        return queued

    # Retention ------------------------------------------------------------------------------------

    def apply_retention(self, now: datetime) -> int:
        """Delete message text older than the set days; metadata and token totals stay."""
        days = self.settings.retention_days
        if days <= 0:
            return 0
        cutoff = now - timedelta(days=days)
        return queries.redact_before(engine=self.engine, cutoff=cutoff)


def _open_questions(session: Session, conversation_id: int) -> list[str]:
    """The questions of the agent's latest message, when that message asked questions."""
    latest = queries.latest_assistant_message(
        session=session,
        conversation_id=conversation_id,
        kinds=(MessageKind.TEXT, MessageKind.QUESTIONS, MessageKind.DELIVERABLE),
    )
    if latest is None or latest.kind is not MessageKind.QUESTIONS or not latest.payload:
        return []
    return [
        str(q.get("question", "")) for q in latest.payload.get("questions", []) if q.get("question")
    ]


def digest_targets(setting: str) -> list[tuple[str | None, str]]:
    """DIGEST_CHANNEL's entries as (workspace or None, channel)."""
    targets: list[tuple[str | None, str]] = []
    for entry in (part.strip() for part in setting.split(",")):
        if not entry:
            continue
        team, _, channel = entry.rpartition(":")
        targets.append((team or None, channel))
    return targets


def _only_team(session: Session, channel: str) -> str | None:
    """The workspace of a digest channel named without one: the channel's own, else the one
    workspace served ("" before any request); None when that can't be told."""
    own = queries.team_of_channel(session=session, channel_id=channel)
    if own is not None:
        return own
    teams = queries.served_teams(session=session, limit=2)
    if len(teams) > 1:
        return None
    return teams[0] if teams else ""


def _digest_payload(
    session: Session, *, team_id: str, since: datetime, until: datetime, now: datetime
) -> dict[str, Any]:
    created = queries.conversations_created(
        session=session, team_id=team_id, since=since, until=until
    )
    waiting = queries.conversations_awaiting_user(session=session, team_id=team_id)
    delivered = queries.deliverables_count(
        session=session, team_id=team_id, since=since, until=until
    )
    failed = queries.conversations_failed_since(session=session, team_id=team_id, since=since)
    ratings = insights.feedback_since(session=session, team_id=team_id, since=since, until=until)
    by_agent = Counter(c.agent or "unassigned" for c in created)
    sign_offs = card_keeping.sign_offs_waiting(session, team_id=team_id)

    def brief(conversation: Conversation) -> dict[str, Any]:
        return {
            "conversation_id": conversation.id,
            "team_id": conversation.team_id,
            "channel_id": conversation.channel_id,
            "thread_ts": conversation.thread_ts,
            "title": conversation.title,
            "requester_id": conversation.requester_id,
            "agent": conversation.agent,
            "reason": conversation.failure_reason,
            "since": (conversation.awaiting_since or conversation.updated_at).isoformat(),
        }

    return {
        "team_id": team_id,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "new_requests": len(created),
        "new_by_agent": dict(by_agent.most_common()),
        "waiting": [brief(c) for c in waiting[:20]],
        "waiting_total": len(waiting),
        "delivered": int(delivered),
        "sign_offs_waiting": len(sign_offs),
        "sign_off_oldest_hours": round((now - min(sign_offs)).total_seconds() / 3600, 1)
        if sign_offs
        else 0,
        "failed": [brief(c) for c in failed[:20]],
        "helpful": ratings.get("up", 0),
        "not_helpful": ratings.get("down", 0),
        "generated_at": now.isoformat(),
    }


def render_digest(
    payload: dict[str, Any], link: Callable[[dict[str, Any]], str] | None = None
) -> str:
    """The digest as Markdown; `link` turns a conversation into a link (adapters give one)."""

    def title(item: dict[str, Any]) -> str:
        text = item.get("title") or f"request {item.get('conversation_id')}"
        return link(item) if link else text

    lines = [f"**agentdesk digest** ({payload['since'][:10]} to {payload['until'][:10]})", ""]
    lines.append(f"**New requests:** {payload['new_requests']}")
    lines += [f"- {agent}: {count}" for agent, count in payload["new_by_agent"].items()]
    lines.append(f"\n**Waiting on people:** {payload['waiting_total']}")
    lines += [
        f"- {title(item)} ({item.get('agent') or 'no agent yet'})" for item in payload["waiting"]
    ]
    if payload.get("sign_offs_waiting"):
        lines.append(
            f"\n**Requirement cards waiting for sign-off:** {payload['sign_offs_waiting']} "
            f"(the oldest for {payload['sign_off_oldest_hours']:g} h)"
        )
    lines.append(f"\n**Delivered:** {payload['delivered']}")
    if payload.get("helpful") or payload.get("not_helpful"):
        lines.append(
            f"- rated helpful {payload.get('helpful', 0)}, "
            f"not quite {payload.get('not_helpful', 0)}"
        )
    lines.append(f"\n**Failed:** {len(payload['failed'])}")
    lines += [
        f"- {title(item)}: {item.get('reason') or 'unknown reason'}" for item in payload["failed"]
    ]
    return "\n".join(lines)
