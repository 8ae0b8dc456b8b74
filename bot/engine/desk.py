"""The desk: takes messages in, routes them, runs agent turns, and hands replies to adapters."""

import logging
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot import metrics
from bot.agents.model import AgentDefinition
from bot.agents.registry import AgentRegistry
from bot.config import Settings
from bot.engine.budget import refuse_if_over_budget
from bot.engine.conversation_tools import (
    ASK_QUESTIONS,
    DELIVER,
    parse_deliverable,
    parse_questions,
    render_deliverable,
    render_questions,
    with_sources,
)
from bot.engine.inbound import InboundMessage
from bot.engine.outbox import Outbox
from bot.engine.ports import Poster
from bot.engine.turn import Toolbox, TurnResult, run_agent_turn
from bot.llm.client import LLMClient, ModelUnavailableError
from bot.logs import conversation_scope
from bot.routing.decision import RouteDecision, RouteMethod
from bot.routing.router import Router
from bot.store import crud
from bot.store.db import session_scope
from bot.store.models import (
    ChannelSetting,
    Conversation,
    ConversationStatus,
    Message,
    MessageKind,
    MessageRole,
    PendingWork,
    RoutingRecord,
    WorkStatus,
    utcnow,
)

log = logging.getLogger(__name__)

_CLOSED = (ConversationStatus.CANCELLED, ConversationStatus.CLOSED)
_REOPENED_BY_A_REPLY = (
    ConversationStatus.CLOSED,
    ConversationStatus.DELIVERED,
    ConversationStatus.FAILED,
    ConversationStatus.AWAITING_USER,
)
_TITLE_CHARS = 120


@dataclass(frozen=True)
class Intake:
    """What happened to an inbound message."""

    conversation_id: int | None
    message_id: int | None
    duplicate: bool = False
    ignored: bool = False  # not part of any conversation (e.g. chatter in a thread we don't own)
    work_id: int | None = None


class Desk:
    """The engine's front door. Adapters call `take_in`, then `work` and `flush_outbox`."""

    def __init__(
        self,
        *,
        settings: Settings,
        engine: Engine,
        registry: AgentRegistry,
        llm: LLMClient,
        router: Router,
        toolbox: Toolbox | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.registry = registry
        self.llm = llm
        self.router = router
        self.toolbox = toolbox
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.outbox = Outbox(engine)

    # Intake ---------------------------------------------------------------------------------

    def take_in(self, inbound: InboundMessage) -> Intake:
        """Store a person's message and the turn it causes, in one transaction."""
        with session_scope(self.engine) as session:
            conversation = crud.find_conversation(
                session=session,
                team_id=inbound.team_id,
                channel_id=inbound.channel_id,
                thread_ts=inbound.thread_ts,
            )
            if conversation is None and not inbound.start_conversation:
                return Intake(conversation_id=None, message_id=None, ignored=True)
            if not crud.mark_seen(session=session, keys=inbound.event_keys):
                return Intake(conversation_id=None, message_id=None, duplicate=True)
            if conversation is None:
                conversation = crud.create_conversation(
                    session=session,
                    conversation=Conversation(
                        team_id=inbound.team_id,
                        channel_id=inbound.channel_id,
                        thread_ts=inbound.thread_ts,
                        source=inbound.source.value,
                        requester_id=inbound.user_id,
                        requester_name=inbound.user_name,
                        title=_title(inbound.text),
                    ),
                )
                assert conversation.id is not None
                for prior in inbound.prior_messages:
                    crud.add_message(
                        session=session,
                        message=Message(
                            conversation_id=conversation.id,
                            role=MessageRole.USER,
                            author_id=prior.author_id,
                            author_name=prior.author_name,
                            text=prior.text,
                            slack_ts=prior.ts,
                        ),
                    )
            assert conversation.id is not None
            message = crud.add_message(
                session=session,
                message=Message(
                    conversation_id=conversation.id,
                    role=MessageRole.USER,
                    author_id=inbound.user_id,
                    author_name=inbound.user_name,
                    text=inbound.text,
                    slack_ts=inbound.ts,
                    payload={"explicit_agent": inbound.explicit_agent}
                    if inbound.explicit_agent
                    else None,
                ),
            )
            if conversation.status is ConversationStatus.CANCELLED:
                conversation.agent = None  # a reply after a cancel starts afresh
                crud.set_status(conversation=conversation, status=ConversationStatus.ROUTING)
            elif conversation.status in _REOPENED_BY_A_REPLY:
                # Reopens a closed or delivered thread, works a failed one again, and answers
                # a waiting one (so no reminder is due any more).
                crud.set_status(conversation=conversation, status=ConversationStatus.WORKING)
            if inbound.explicit_agent and conversation.agent != inbound.explicit_agent:
                conversation.agent = None  # re-route: the person named an agent
                crud.set_status(conversation=conversation, status=ConversationStatus.ROUTING)
            assert message.id is not None
            work = crud.enqueue_turn(
                session=session, conversation_id=conversation.id, message_id=message.id
            )
            return Intake(conversation_id=conversation.id, message_id=message.id, work_id=work.id)

    # Work -------------------------------------------------------------------------------------

    def work(
        self, *, poster: Poster | None = None, conversation_id: int | None = None, limit: int = 50
    ) -> int:
        """Run claimable turns until none are left (or `limit`); returns how many ran."""
        done = 0
        while done < limit:
            work = crud.claim_work(
                engine=self.engine,
                worker=self.worker_id,
                lease=timedelta(seconds=self.settings.turn_lease_seconds),
                conversation_id=conversation_id,
            )
            if work is None:
                break
            self.run_work(work, poster=poster)
            done += 1
        return done

    @conversation_scope
    def run_work(self, work: PendingWork, *, poster: Poster | None = None) -> None:
        """Run one claimed turn, then post what it produced."""
        assert work.id is not None
        metrics.turn_waited(available_at=work.available_at, now=utcnow())
        if work.attempts > self.settings.turn_max_attempts:
            self._fail(
                conversation_id=work.conversation_id,
                work_id=work.id,
                reason=f"This turn was started {work.attempts - 1} times without finishing.",
            )
        else:
            self._run_turn_safely(work, poster=poster)
        if poster is not None:
            self.flush_outbox(poster, conversation_id=work.conversation_id)

    def _run_turn_safely(self, work: PendingWork, *, poster: Poster | None) -> None:
        assert work.id is not None
        try:
            self._run_turn(work, poster=poster)
        except Exception as error:  # a bug must not lose the turn or reach the thread raw
            log.exception("turn %s of conversation %s crashed", work.id, work.conversation_id)
            self._fail(
                conversation_id=work.conversation_id,
                work_id=work.id,
                reason="Something went wrong on our side while working on this.",
                detail=f"{type(error).__name__}: {error}",
            )

    def _run_turn(self, work: PendingWork, *, poster: Poster | None) -> None:
        assert work.id is not None
        with session_scope(self.engine) as session:
            conversation = session.get(Conversation, work.conversation_id)
            if conversation is None or conversation.status in _CLOSED:
                crud.finish_work(session=session, work_id=work.id, status=WorkStatus.CANCELLED)
                return
            messages = list(
                crud.thread_messages(session=session, conversation_id=work.conversation_id)
            )
            setting = crud.channel_setting(
                session=session, team_id=conversation.team_id, channel_id=conversation.channel_id
            )
            owner = conversation.agent
        agent = self.registry.roster().get(owner) if owner else None
        # Routing may ask the model: no transaction stays open while it does.
        decision = None if agent else self._route(messages, setting)
        with session_scope(self.engine) as session:
            conversation = session.get(Conversation, work.conversation_id)
            assert conversation is not None
            if conversation.status in _CLOSED:  # cancelled meanwhile
                crud.finish_work(session=session, work_id=work.id, status=WorkStatus.CANCELLED)
                return
            if decision is not None:
                agent = self._apply_route(session, conversation, messages, decision, lost=owner)
            if agent is None:
                crud.finish_work(session=session, work_id=work.id, status=WorkStatus.DONE)
                return
            crud.set_status(conversation=conversation, status=ConversationStatus.WORKING)
            conversation_snapshot = Conversation.model_validate(conversation.model_dump())

        def show_activity(activity: str) -> None:
            if poster is not None:
                _safely(poster.show_working, conversation=conversation_snapshot, activity=activity)

        if refuse_if_over_budget(
            engine=self.engine,
            settings=self.settings,
            conversation_id=work.conversation_id,
            work_id=work.id,
        ):
            return
        show_activity("is thinking…")
        try:
            result = run_agent_turn(
                llm=self.llm,
                settings=self.settings,
                agent=agent,
                requester_id=conversation_snapshot.requester_id,
                messages=messages,
                toolbox=self.toolbox,
                on_activity=show_activity,
            )
        except ModelUnavailableError as error:
            self._fail(conversation_id=work.conversation_id, work_id=work.id, reason=error.reason)
            return
        with session_scope(self.engine) as session:
            conversation = session.get(Conversation, work.conversation_id)
            assert conversation is not None
            if conversation.status in _CLOSED:  # cancelled while the model was thinking
                crud.finish_work(session=session, work_id=work.id, status=WorkStatus.CANCELLED)
                return
            crud.add_usage(conversation=conversation, usage=result.usage)
            self._store_outcome(session, conversation, agent, result)
            metrics.TURNS.labels(outcome=conversation.status.value).inc()
            metrics.turn_spent(
                agent=agent.name,
                model=result.completion.model,
                usage=result.usage,
                prices=self.settings.model_prices,
            )
            crud.finish_work(session=session, work_id=work.id, status=WorkStatus.DONE)

    # Routing ----------------------------------------------------------------------------------

    def _route(self, messages: Sequence[Message], setting: ChannelSetting | None) -> RouteDecision:
        """Ask the router who takes the people's unanswered messages."""
        pending = _unanswered(messages)
        text = "\n\n".join(m.text for m in pending) or (messages[-1].text if messages else "")
        explicit = next(
            (
                str(m.payload["explicit_agent"])
                for m in reversed(pending)
                if m.payload and m.payload.get("explicit_agent")
            ),
            None,
        )
        return self.router.route(
            text=text,
            explicit_agent=explicit,
            channel_default=setting.default_agent if setting else None,
            previous_turn=_previous_turn(messages, pending),
            local_only=not self.llm.configured,
        )

    def _apply_route(
        self,
        session: Session,
        conversation: Conversation,
        messages: Sequence[Message],
        decision: RouteDecision,
        *,
        lost: str | None,
    ) -> AgentDefinition | None:
        """Record the decision; give the thread to the agent, or explain why nobody took it."""
        assert conversation.id is not None
        if lost:
            crud.add_assistant_message(
                session=session,
                conversation_id=conversation.id,
                kind=MessageKind.NOTICE,
                text=(
                    f"The agent *{lost}* is no longer available, "
                    "so I'm finding another one for this thread."
                ),
            )
            conversation.agent = None
        pending = _unanswered(messages)
        crud.record_routing(
            session=session,
            record=RoutingRecord(
                conversation_id=conversation.id,
                message_id=pending[-1].id if pending else None,
                method=decision.method.value,
                agent=decision.agent,
                confidence=decision.confidence,
                candidates=[{"agent": c.agent, "score": c.score} for c in decision.candidates],
                reason=decision.reason,
                ms=decision.ms,
            ),
        )
        agent = self.registry.roster().get(decision.agent) if decision.agent else None
        if agent is not None:
            conversation.agent = agent.name
            return agent
        self._explain_undecided(session, conversation, decision)
        return None

    def _explain_undecided(
        self, session: Session, conversation: Conversation, decision: RouteDecision
    ) -> None:
        assert conversation.id is not None
        candidates = [c.agent for c in decision.candidates[:4]]
        if decision.method is RouteMethod.NONE or not candidates:
            crud.add_assistant_message(
                session=session,
                conversation_id=conversation.id,
                kind=MessageKind.NOTICE,
                text=(
                    "I couldn't match this to one of our agents. "
                    "Tell me a bit more about what you need, or name an agent.\n\n"
                    + (decision.coverage or _coverage(self.registry))
                ),
                payload={"reason": decision.reason},
            )
            crud.set_status(conversation=conversation, status=ConversationStatus.ROUTING)
            return
        crud.add_assistant_message(
            session=session,
            conversation_id=conversation.id,
            kind=MessageKind.CHOOSE_AGENT,
            text="Which agent should take this? " + ", ".join(f"*{name}*" for name in candidates),
            payload={"candidates": candidates, "reason": decision.reason},
        )
        crud.set_status(conversation=conversation, status=ConversationStatus.CHOOSING_AGENT)

    # The agent turn -----------------------------------------------------------------------------

    def _store_outcome(
        self,
        session: Session,
        conversation: Conversation,
        agent: AgentDefinition,
        result: TurnResult,
    ) -> None:
        assert conversation.id is not None
        completion, condensed = result.completion, result.condensed
        tool_use = next(
            (t for t in completion.tool_uses() if t.name in (ASK_QUESTIONS, DELIVER)), None
        )
        common: dict[str, Any] = {
            "session": session,
            "conversation_id": conversation.id,
            "author_name": agent.name,
            "model": completion.model,
            "usage": result.usage,
        }
        reading = {"sources": result.sources, "steps": result.steps} if result.steps else {}
        lead = completion.text
        if tool_use is not None and tool_use.name == DELIVER:
            deliverable = parse_deliverable(tool_use.input)
            deliverable["document"] = with_sources(deliverable["document"], result.sources)
            crud.add_assistant_message(
                kind=MessageKind.DELIVERABLE,
                text=render_deliverable(deliverable),
                payload={**deliverable, "lead": lead, "condensed": condensed, **reading},
                **common,
            )
            crud.set_status(conversation=conversation, status=ConversationStatus.DELIVERED)
            return
        if tool_use is not None:
            intro, questions = parse_questions(tool_use.input)
            if questions:
                intro = intro or lead
                crud.add_assistant_message(
                    kind=MessageKind.QUESTIONS,
                    text=render_questions(intro, questions),
                    payload={
                        "intro": intro,
                        "questions": [
                            {"question": q.question, "choices": list(q.choices)} for q in questions
                        ],
                        "condensed": condensed,
                        **reading,
                    },
                    **common,
                )
                crud.set_status(conversation=conversation, status=ConversationStatus.AWAITING_USER)
                return
        crud.add_assistant_message(
            kind=MessageKind.TEXT,
            text=lead or "I don't have anything to add yet. What would you like me to do next?",
            payload={"condensed": condensed, **reading} if condensed or reading else None,
            **common,
        )
        crud.set_status(conversation=conversation, status=ConversationStatus.AWAITING_USER)

    def _fail(
        self, *, conversation_id: int, work_id: int, reason: str, detail: str | None = None
    ) -> None:
        metrics.TURNS.labels(outcome="failed").inc()
        with session_scope(self.engine) as session:
            conversation = session.get(Conversation, conversation_id)
            crud.finish_work(
                session=session, work_id=work_id, status=WorkStatus.FAILED, error=detail or reason
            )
            if conversation is None or conversation.status in _CLOSED:
                return
            crud.set_status(
                conversation=conversation, status=ConversationStatus.FAILED, reason=reason
            )
            crud.add_assistant_message(
                session=session,
                conversation_id=conversation_id,
                kind=MessageKind.FAILURE,
                text=f"I couldn't finish this turn. {reason} Press Retry to try again.",
                payload={"reason": reason},
            )

    # Actions from people --------------------------------------------------------------------------

    def retry(self, conversation_id: int) -> bool:
        """Queue the turn again for a failed conversation; False when there is nothing to retry."""
        with session_scope(self.engine) as session:
            conversation = session.get(Conversation, conversation_id)
            if conversation is None or conversation.status is not ConversationStatus.FAILED:
                return False
            crud.set_status(
                conversation=conversation,
                status=ConversationStatus.WORKING
                if conversation.agent
                else ConversationStatus.ROUTING,
            )
            crud.enqueue_turn(session=session, conversation_id=conversation_id)
            return True

    def choose_agent(self, conversation_id: int, agent_name: str, *, by: str | None = None) -> bool:
        """Give the thread to an agent (a button, `/feature --agent`, a hand-over) and queue a turn."""
        agent = self.registry.roster().get(agent_name)
        with session_scope(self.engine) as session:
            conversation = session.get(Conversation, conversation_id)
            if agent is None or conversation is None:
                return False
            if conversation.agent == agent.name:
                return False  # theirs already: a double click, or two people picking alike
            previous = conversation.agent
            conversation.agent = agent.name
            crud.set_status(conversation=conversation, status=ConversationStatus.WORKING)
            crud.record_routing(
                session=session,
                record=RoutingRecord(
                    conversation_id=conversation_id,
                    method=RouteMethod.EXPLICIT.value,
                    agent=agent.name,
                    confidence=1.0,
                    reason=f"chosen by {by or 'a person'}"
                    + (
                        f", handed over from {previous}"
                        if previous and previous != agent.name
                        else ""
                    ),
                ),
            )
            if previous and previous != agent.name:
                crud.add_assistant_message(
                    session=session,
                    conversation_id=conversation_id,
                    kind=MessageKind.NOTICE,
                    text=f"Handed over from *{previous}* to *{agent.name}*.",
                )
            crud.enqueue_turn(session=session, conversation_id=conversation_id)
            return True

    def cancel(self, conversation_id: int, *, by: str | None = None) -> bool:
        """Stop working a conversation; a later reply starts it afresh."""
        with session_scope(self.engine) as session:
            conversation = session.get(Conversation, conversation_id)
            if conversation is None or conversation.status in _CLOSED:
                return False
            crud.cancel_work(session=session, conversation_id=conversation_id)
            crud.set_status(conversation=conversation, status=ConversationStatus.CANCELLED)
            crud.add_assistant_message(
                session=session,
                conversation_id=conversation_id,
                kind=MessageKind.NOTICE,
                text="Cancelled" + (f" by {by}" if by else "") + ". Reply here to start again.",
            )
            return True

    def edit_message(self, *, team_id: str, channel_id: str, ts: str, text: str) -> bool:
        """Read an edited message anew when the agent has not answered it yet."""
        with session_scope(self.engine) as session:
            message = crud.find_user_message(
                session=session, team_id=team_id, channel_id=channel_id, ts=ts
            )
            if message is None or message.id is None:
                return False
            later = crud.thread_messages(session=session, conversation_id=message.conversation_id)
            if any(
                m.id is not None
                and m.id > message.id
                and m.role is MessageRole.ASSISTANT
                and m.kind in (MessageKind.TEXT, MessageKind.QUESTIONS, MessageKind.DELIVERABLE)
                for m in later
            ):
                return False
            message.text = text
            conversation = session.get(Conversation, message.conversation_id)
            if conversation is not None and conversation.thread_ts == ts:
                conversation.title = _title(text)
            return True

    def record_feedback(
        self, conversation_id: int, *, message_id: int | None, rating: str, by: str | None
    ) -> None:
        """Keep a person's rating of a deliverable (not shown to the model)."""
        with session_scope(self.engine) as session:
            crud.add_message(
                session=session,
                message=Message(
                    conversation_id=conversation_id,
                    role=MessageRole.USER,
                    kind=MessageKind.NOTICE,
                    author_id=by,
                    text=f"feedback: {rating}",
                    payload={"feedback": rating, "message_id": message_id},
                ),
            )

    def find_conversation(
        self, *, team_id: str, channel_id: str, thread_ts: str
    ) -> Conversation | None:
        """The conversation of a thread, if agentdesk works in it."""
        with Session(self.engine, expire_on_commit=False) as session:
            return crud.find_conversation(
                session=session, team_id=team_id, channel_id=channel_id, thread_ts=thread_ts
            )

    def open_requests(self, *, team_id: str, requester_id: str) -> list[Conversation]:
        """A person's open conversations, newest first."""
        with Session(self.engine, expire_on_commit=False) as session:
            return list(
                crud.open_conversations_of(
                    session=session, team_id=team_id, requester_id=requester_id
                )
            )

    def channel_setting(self, *, team_id: str, channel_id: str) -> ChannelSetting | None:
        """A channel's settings (default agent, intake, bots), if any."""
        with Session(self.engine, expire_on_commit=False) as session:
            return crud.channel_setting(session=session, team_id=team_id, channel_id=channel_id)

    def configure_channel(
        self, *, team_id: str, channel_id: str, **changes: object
    ) -> ChannelSetting:
        """Change a channel's settings."""
        with session_scope(self.engine) as session:
            return crud.save_channel_setting(
                session=session, team_id=team_id, channel_id=channel_id, **changes
            )

    # Outbox -------------------------------------------------------------------------------------

    def flush_outbox(self, poster: Poster, *, conversation_id: int | None = None) -> int:
        """Post stored replies in order (and scheduler posts) through `poster`; how many."""
        return self.outbox.flush(poster, conversation_id=conversation_id)

    # Reading --------------------------------------------------------------------------------------

    def conversation(self, conversation_id: int) -> Conversation | None:
        """A conversation by id."""
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(Conversation, conversation_id)

    def messages(self, conversation_id: int) -> list[Message]:
        """A conversation's messages, oldest first."""
        with Session(self.engine, expire_on_commit=False) as session:
            return list(crud.thread_messages(session=session, conversation_id=conversation_id))

    def routing_history(self, conversation_id: int) -> list[RoutingRecord]:
        """Every routing decision recorded for a conversation."""
        with Session(self.engine, expire_on_commit=False) as session:
            return list(crud.routing_history(session=session, conversation_id=conversation_id))


def _unanswered(messages: Sequence[Message]) -> list[Message]:
    """The people's messages since the agent last spoke."""
    tail: list[Message] = []
    for message in reversed(messages):
        if message.role is MessageRole.ASSISTANT and message.kind in (
            MessageKind.TEXT,
            MessageKind.QUESTIONS,
            MessageKind.DELIVERABLE,
        ):
            break
        if message.role is MessageRole.USER and message.kind is MessageKind.TEXT:
            tail.insert(0, message)
    return tail


def _previous_turn(messages: Sequence[Message], pending: Sequence[Message]) -> str | None:
    earlier = [m for m in messages if m not in pending and m.kind is not MessageKind.NOTICE]
    return earlier[-1].text if earlier else None


def _title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _TITLE_CHARS else line[: _TITLE_CHARS - 1] + "…"


def _coverage(registry: AgentRegistry) -> str:
    lines = ["Our agents:"]
    for agent in registry.roster():
        first = agent.description.split(". ")[0].split("\n")[0][:160]
        lines.append(f"• *{agent.name}*: {first}")
    return "\n".join(lines)


def _safely(function: Any, **kwargs: Any) -> None:
    try:
        function(**kwargs)
    except Exception:
        log.warning("sign of life failed", exc_info=True)
