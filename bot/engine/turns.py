"""Turn execution: route the thread if nobody owns it, run the agent, store what it produced.

A turn runs under a lease its worker renews; every write after the model call checks that
this worker still holds the turn, so a turn handed back at shutdown (or taken over after a
crash) is never stored twice.
"""

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.accounting.prices import price_table
from bot.agents.model import AgentDefinition
from bot.agents.registry import AgentRegistry
from bot.config import Settings
from bot.engine import card_keeping, failures
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
from bot.engine.learned_examples import learn_from
from bot.engine.ports import TurnPreview
from bot.engine.repo_toolbox import RepoToolbox
from bot.engine.states import Transition, move
from bot.engine.turn import Toolbox, ToolStep, TurnResult, run_agent_turn
from bot.llm.client import LLMClient
from bot.llm.errors import ModelUnavailableError
from bot.observability import metrics
from bot.repos import RepoSet
from bot.routing.decision import RouteDecision, RouteMethod
from bot.routing.router import Router
from bot.store import (
    cards,
    channels,
    conversation_records,
    message_records,
    pending_work,
    queue,
    routing_records,
)
from bot.store.db import is_transient, session_scope
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
)

log = logging.getLogger(__name__)

_CLOSED = (ConversationStatus.CANCELLED, ConversationStatus.CLOSED)
RETRY_BASE_SECONDS = 1.0  # a turn that hit a database error waits 1, 2, 4… s

ShowActivity = Callable[[Conversation, str], None]
StartPreview = Callable[[Conversation, Callable[[str], None]], TurnPreview]


@dataclass
class TurnRunner:
    """Runs claimed turns for one worker."""

    settings: Settings
    engine: Engine
    registry: AgentRegistry
    llm: LLMClient
    router: Router
    worker_id: str
    toolbox: Toolbox | None = None

    @property
    def repos(self) -> RepoSet | None:
        """The repositories agents read (cards name paths in them), if any."""
        return self.toolbox.repos if isinstance(self.toolbox, RepoToolbox) else None

    def run(
        self,
        work: PendingWork,
        *,
        show_activity: ShowActivity | None = None,
        start_preview: StartPreview | None = None,
    ) -> None:
        """Run one claimed turn (or fail it after too many attempts); never raises.

        With `start_preview` the turn is shown live while it runs (streamed words, a step
        per tool call), and its stored reply records the preview so it takes its place.
        """
        assert work.id is not None
        if work.attempts > self.settings.turn_max_attempts:
            self._fail(
                work,
                reason=f"This turn was started {work.attempts - 1} times without finishing.",
            )
            return
        try:
            self._run(work, show_activity, start_preview)
        except Exception as error:  # a bug must not lose the turn or reach the thread raw
            if is_transient(error) and self._retry_later(work, error):
                return
            log.exception("turn %s of conversation %s crashed", work.id, work.conversation_id)
            self._fail(
                work,
                reason="Something went wrong on our side while working on this.",
                detail=f"{type(error).__name__}: {error}",
            )

    def _retry_later(self, work: PendingWork, error: Exception) -> bool:
        """A database hiccup (no free connection, a locked file, a restart): queue the turn
        again after a pause rather than tell the thread it failed, while attempts remain."""
        assert work.id is not None
        if work.attempts >= self.settings.turn_max_attempts:
            return False
        delay = timedelta(seconds=RETRY_BASE_SECONDS * 2 ** (work.attempts - 1))
        try:
            queued = queue.retry_later(
                engine=self.engine,
                table=PendingWork,
                row_id=work.id,
                worker=self.worker_id,
                error=f"{type(error).__name__}: {error}"[:500],
                delay=delay,
            )
        except Exception:  # still down: the lease runs out and the turn is taken again
            queued = True
        log.warning(
            "turn %s of conversation %s hit a database error (%s); trying again in %.0f s",
            work.id,
            work.conversation_id,
            type(error).__name__,
            delay.total_seconds(),
        )
        return queued

    def _finish(self, session: Session, work: PendingWork, status: WorkStatus) -> bool:
        assert work.id is not None
        return queue.finish(
            session=session,
            table=PendingWork,
            row_id=work.id,
            status=status,
            worker=self.worker_id,
        )

    def _run(
        self,
        work: PendingWork,
        show_activity: ShowActivity | None,
        start_preview: StartPreview | None,
    ) -> None:
        with session_scope(self.engine) as session:
            conversation = session.get(Conversation, work.conversation_id)
            if conversation is None or conversation.status in _CLOSED:
                self._finish(session, work, WorkStatus.CANCELLED)
                return
            messages = list(
                message_records.thread_messages(
                    session=session, conversation_id=work.conversation_id
                )
            )
            setting = channels.channel_setting(
                session=session, team_id=conversation.team_id, channel_id=conversation.channel_id
            )
            card = cards.latest_card(session=session, conversation_id=work.conversation_id)
            card_content = card.content if card else None
            owner, team_id = conversation.agent, conversation.team_id
        agent = self.registry.roster().get(owner) if owner else None
        # Routing may ask the model: no transaction stays open while it does.
        decision = None if agent else self._route(messages, setting, team_id)
        with session_scope(self.engine) as session:
            conversation = session.get(Conversation, work.conversation_id)
            assert conversation is not None
            if conversation.status in _CLOSED:  # cancelled meanwhile
                self._finish(session, work, WorkStatus.CANCELLED)
                return
            if decision is not None:
                agent = self._apply_route(session, conversation, messages, decision, lost=owner)
            if agent is None:
                self._finish(session, work, WorkStatus.DONE)
                return
            if not move(conversation, Transition.START_TURN):
                self._finish(session, work, WorkStatus.CANCELLED)
                return
            snapshot = Conversation.model_validate(conversation.model_dump())

        def activity(text: str) -> None:
            if show_activity is not None:
                show_activity(snapshot, text)

        assert work.id is not None
        if refuse_if_over_budget(
            engine=self.engine,
            settings=self.settings,
            conversation_id=work.conversation_id,
            work_id=work.id,
            worker=self.worker_id,
            setting=setting,
        ):
            return
        activity("is thinking…")
        # An earlier attempt's preview is already in the chat: the reply takes its place,
        # and this attempt shows its progress on the status line only.
        preview = (
            start_preview(snapshot, lambda handle: self._remember_preview(work, handle))
            if start_preview is not None and work.preview_ts is None
            else None
        )
        try:
            result = run_agent_turn(
                llm=self.llm,
                settings=self.settings,
                agent=agent,
                requester_id=snapshot.requester_id,
                messages=messages,
                card=card_content,
                toolbox=self.toolbox,
                on_activity=activity,
                on_text=preview.write if preview is not None else None,
                on_step=_step_shower(preview),
            )
        except ModelUnavailableError as error:
            self._fail(work, reason=error.reason)
            return
        finally:
            if preview is not None:
                preview.end()
        with session_scope(self.engine) as session:
            conversation = session.get(Conversation, work.conversation_id)
            assert conversation is not None
            if conversation.status in _CLOSED:  # cancelled while the model was thinking
                if self._finish(session, work, WorkStatus.CANCELLED):
                    self._close_preview(session, work)
                return
            if not self._finish(session, work, WorkStatus.DONE):
                log.info("turn %s was handed back while it ran; its result is dropped", work.id)
                return
            conversation_records.add_usage(conversation=conversation, usage=result.usage)
            assert work.id is not None
            self._store_outcome(
                session,
                conversation,
                agent,
                result,
                preview_ts=pending_work.preview_of(session=session, work_id=work.id),
            )
            metrics.TURNS.labels(outcome=conversation.status.value).inc()
            metrics.turn_spent(
                agent=agent.name,
                usage=result.usage,
                cost=price_table(self.settings.model_prices).cost(
                    result.completion.model, result.usage
                ),
            )

    def _close_preview(self, session: Session, work: PendingWork) -> None:
        """A cancelled turn's half-streamed words give way to a short note, in place."""
        assert work.id is not None
        preview_ts = pending_work.preview_of(session=session, work_id=work.id)
        if preview_ts:
            message_records.add_assistant_message(
                session=session,
                conversation_id=work.conversation_id,
                kind=MessageKind.NOTICE,
                text="Stopped before finishing.",
                payload={"preview_ts": preview_ts},
            )

    def _remember_preview(self, work: PendingWork, handle: str) -> None:
        assert work.id is not None
        with session_scope(self.engine) as session:
            pending_work.remember_preview(session=session, work_id=work.id, handle=handle)

    # Routing ----------------------------------------------------------------------------------

    def _route(
        self, messages: Sequence[Message], setting: ChannelSetting | None, team_id: str
    ) -> RouteDecision:
        """Ask the router who takes the people's unanswered messages."""
        pending = unanswered(messages)
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
            team_id=team_id,
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
            message_records.add_assistant_message(
                session=session,
                conversation_id=conversation.id,
                kind=MessageKind.NOTICE,
                text=(
                    f"The agent *{lost}* is no longer available, "
                    "so I'm finding another one for this thread."
                ),
            )
            conversation.agent = None
        pending = unanswered(messages)
        routing_records.record_routing(
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
            learn_from(session, conversation, decision)
            return agent
        self._explain_undecided(session, conversation, decision)
        return None

    def _explain_undecided(
        self, session: Session, conversation: Conversation, decision: RouteDecision
    ) -> None:
        assert conversation.id is not None
        candidates = [c.agent for c in decision.candidates[:4]]
        if decision.method is RouteMethod.NONE or not candidates:
            message_records.add_assistant_message(
                session=session,
                conversation_id=conversation.id,
                kind=MessageKind.NOTICE,
                text=(
                    "I couldn't match this to one of our agents. "
                    "Tell me a bit more about what you need, or name an agent.\n\n"
                    + (decision.coverage or coverage(self.registry))
                ),
                payload={"reason": decision.reason},
            )
            move(conversation, Transition.ROUTE_AGAIN)
            return
        message_records.add_assistant_message(
            session=session,
            conversation_id=conversation.id,
            kind=MessageKind.CHOOSE_AGENT,
            text="Which agent should take this? " + ", ".join(f"*{name}*" for name in candidates),
            payload={"candidates": candidates, "reason": decision.reason},
        )
        move(conversation, Transition.ASK_WHICH_AGENT)

    # The agent's outcome ------------------------------------------------------------------------

    def _store_outcome(
        self,
        session: Session,
        conversation: Conversation,
        agent: AgentDefinition,
        result: TurnResult,
        *,
        preview_ts: str | None,
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
        reading: dict[str, Any] = (
            {"sources": result.sources, "steps": result.steps} if result.steps else {}
        )
        if preview_ts:
            reading["preview_ts"] = preview_ts
        lead = completion.text
        keep_card = functools.partial(
            card_keeping.keep,
            session,
            conversation,
            written=result.card,
            author=agent.name,
            settings=self.settings,
            repos=self.repos,
        )
        if tool_use is not None and tool_use.name == DELIVER:
            deliverable = parse_deliverable(tool_use.input)
            deliverable["document"] = with_sources(deliverable["document"], result.sources)
            keep_card(delivered=deliverable["title"], show_now=False)
            card = cards.latest_card(session=session, conversation_id=conversation.id)
            message_records.add_assistant_message(
                kind=MessageKind.DELIVERABLE,
                text=render_deliverable(deliverable),
                payload={
                    **deliverable,
                    "lead": lead,
                    "condensed": condensed,
                    "card_version": card.version if card else None,
                    **reading,
                },
                **common,
            )
            move(conversation, Transition.DELIVER)
            # Shown once the plan is stored: the card's estimate reads its size.
            card_keeping.refresh(session, conversation, settings=self.settings, repos=self.repos)
            return
        if tool_use is not None:
            intro, questions = parse_questions(tool_use.input)
            if questions:
                intro = intro or lead
                keep_card(asked=[q.question for q in questions])
                message_records.add_assistant_message(
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
                move(conversation, Transition.ASK_QUESTIONS)
                return
        keep_card()
        message_records.add_assistant_message(
            kind=MessageKind.TEXT,
            text=lead or "I don't have anything to add yet. What would you like me to do next?",
            payload={"condensed": condensed, **reading} if condensed or reading else None,
            **common,
        )
        move(conversation, Transition.ANSWER)

    def _fail(self, work: PendingWork, *, reason: str, detail: str | None = None) -> None:
        assert work.id is not None
        with session_scope(self.engine) as session:
            if not queue.finish(
                session=session,
                table=PendingWork,
                row_id=work.id,
                status=WorkStatus.FAILED,
                error=detail or reason,
                worker=self.worker_id,
            ):
                return  # handed back meanwhile: whoever runs it now reports
            metrics.TURNS.labels(outcome="failed").inc()
            conversation = session.get(Conversation, work.conversation_id)
            if conversation is None or not move(conversation, Transition.FAIL, reason=reason):
                return
            preview_ts = pending_work.preview_of(session=session, work_id=work.id)
            message_records.add_assistant_message(
                session=session,
                conversation_id=work.conversation_id,
                kind=MessageKind.FAILURE,
                text=failures.failure_text(reason=reason),
                payload={"reason": reason, **({"preview_ts": preview_ts} if preview_ts else {})},
            )


def _step_shower(preview: TurnPreview | None) -> Callable[[ToolStep], None] | None:
    if preview is None:
        return None
    return lambda step: preview.step(
        key=step.key, title=step.title, done=step.done, failed=step.failed
    )


def unanswered(messages: Sequence[Message]) -> list[Message]:
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


def coverage(registry: AgentRegistry) -> str:
    """What the agents cover, one line each, for a request nobody took."""
    lines = ["Our agents:"]
    for agent in registry.roster():
        first = agent.description.split(". ")[0].split("\n")[0][:160]
        lines.append(f"• *{agent.name}*: {first}")
    return "\n".join(lines)
