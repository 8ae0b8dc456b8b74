"""The desk: the engine's front door for adapters.

It wires the parts together — intake (`bot/engine/intake.py`), turn execution
(`turns.py`), people's actions (`actions.py`), the outbox (`outbox.py`) and the stored
inbound requests (`inbox.py`) — and answers the few questions adapters ask.
"""

import functools
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.agents.registry import AgentRegistry, Roster
from bot.config import Settings
from bot.engine import actions, identity
from bot.engine.actions import Outcome
from bot.engine.home_summary import HomeSummary, home_summary
from bot.engine.inbound import InboundMessage
from bot.engine.inbox import Inbox
from bot.engine.intake import Intake, take_in
from bot.engine.outbox import Outbox
from bot.engine.ports import FollowUpRuns, GroupDirectory, Poster, Previewer, TurnPreview
from bot.engine.repo_toolbox import RepoToolbox
from bot.engine.turn import Toolbox
from bot.engine.turns import TurnRunner
from bot.engine.views import (
    ChannelView,
    RouteView,
    ThreadRef,
    channel_view_of,
    route_of,
    thread_of,
)
from bot.llm.client import LLMClient
from bot.observability import metrics
from bot.observability.logs import conversation_scope
from bot.repos import RepoSet
from bot.routing.router import Router
from bot.store import channels, conversation_records, message_records, queue, routing_records
from bot.store.db import ack_engine, current_revision, ping, session_scope
from bot.store.models import (
    Conversation,
    InboundEvent,
    Message,
    PendingWork,
    utcnow,
)
from bot.store.queue_stats import QueueStats, queue_stats

__all__ = ["Desk", "Intake", "Outcome"]

log = logging.getLogger(__name__)


class Desk:
    """Adapters call `take_in`, then `work` (or a Worker does) and `flush_outbox`."""

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
        self.worker_id = worker_id or identity.process_id()
        self.lease = timedelta(seconds=settings.turn_lease_seconds)
        self.fair = queue.FairShare(
            per_user=settings.turns_per_user, per_channel=settings.turns_per_channel
        )
        self.is_dead: Callable[[str], bool] = functools.partial(identity.is_dead, me=self.worker_id)
        self.outbox = Outbox(engine, worker_id=self.worker_id, is_dead=self.is_dead)
        self.inbox = Inbox(
            engine=engine, worker_id=self.worker_id, lease=self.lease, ack_engine=ack_engine(engine)
        )
        self.follow_ups: FollowUpRuns | None = None  # set where implementation runs exist
        self.turns = TurnRunner(
            settings=settings,
            engine=engine,
            registry=registry,
            llm=llm,
            router=router,
            worker_id=self.worker_id,
            toolbox=toolbox,
        )

    @property
    def toolbox(self) -> Toolbox | None:
        """The repository tools agents may use (None without REPOS)."""
        return self.turns.toolbox

    @toolbox.setter
    def toolbox(self, toolbox: Toolbox | None) -> None:
        self.turns.toolbox = toolbox

    def roster(self) -> Roster:
        """The agents loaded now (re-checked on disk)."""
        return self.registry.roster()

    def repo_set(self) -> RepoSet | None:
        """The repositories the agents read, when the desk's toolbox has them."""
        toolbox = self.toolbox
        return toolbox.repos if isinstance(toolbox, RepoToolbox) else None

    def store_request(
        self, *, kind: str, key: str, body: dict[str, Any], thread_key: str = ""
    ) -> bool:
        """Commit a raw request before the ack; False for a redelivery. Raises when the
        database can't take it: the adapter must then not acknowledge."""
        return self.inbox.store(kind=kind, key=key, body=body, thread_key=thread_key)

    # Intake ---------------------------------------------------------------------------------

    def take_in(self, inbound: InboundMessage) -> Intake:
        """Store a person's message and the turn it causes (or the run it asks for, when
        `follow_ups` takes it), in one transaction."""
        return take_in(
            engine=self.engine,
            inbound=inbound,
            registry=self.registry,
            follow_ups=self.follow_ups,
        )

    def turns_ahead(self, work_id: int) -> int:
        """How many turns queued before this one have not started yet."""
        with Session(self.engine) as session:
            return queue.turns_ahead(session=session, work_id=work_id)

    # Work -------------------------------------------------------------------------------------

    def claim_turn(self, *, conversation_id: int | None = None) -> PendingWork | None:
        """Take the next turn this process may run (fair across people and channels)."""
        return queue.claim_turn(
            engine=self.engine,
            worker=self.worker_id,
            lease=self.lease,
            fair=self.fair,
            conversation_id=conversation_id,
        )

    def claim_turns(self, *, limit: int) -> list[PendingWork]:
        """Take up to `limit` turns this process may run, in one transaction (fair too)."""
        return queue.claim_turns(
            engine=self.engine, worker=self.worker_id, lease=self.lease, fair=self.fair, limit=limit
        )

    def work(
        self, *, poster: Poster | None = None, conversation_id: int | None = None, limit: int = 50
    ) -> int:
        """Run claimable turns here, one after another, until none are left (or `limit`)."""
        done = 0
        while done < limit:
            work = self.claim_turn(conversation_id=conversation_id)
            if work is None:
                break
            self.run_work(work, poster=poster)
            done += 1
        return done

    @conversation_scope
    def run_work(self, work: PendingWork, *, poster: Poster | None = None) -> None:
        """Run one claimed turn, then post what it produced."""
        metrics.turn_waited(available_at=work.available_at, now=utcnow())

        def show(conversation: Conversation, activity: str) -> None:
            if poster is None:
                return
            try:
                poster.show_working(thread=thread_of(conversation=conversation), activity=activity)
            except Exception:
                log.warning("sign of life failed", exc_info=True)

        start_preview = None
        if isinstance(poster, Previewer):
            previewer = poster

            def start_preview(
                conversation: Conversation, remember: Callable[[str], None]
            ) -> TurnPreview:
                return previewer.start_preview(
                    thread=thread_of(conversation=conversation), remember=remember
                )

        self.turns.run(work, show_activity=show, start_preview=start_preview)
        if poster is not None:
            self.flush_outbox(poster, conversation_id=work.conversation_id)

    def hand_back(self) -> int:
        """Give every turn and request this process holds back to the queue (shutting down)."""
        return sum(
            queue.hand_back(engine=self.engine, table=table, worker=self.worker_id)
            for table in (PendingWork, InboundEvent)
        )

    def reclaim_dead(self) -> int:
        """Queue again at once what dead processes of this host left running."""
        return sum(
            queue.reclaim_dead(engine=self.engine, table=table, is_dead=self.is_dead)
            for table in (PendingWork, InboundEvent)
        )

    # Actions from people --------------------------------------------------------------------------

    def retry(self, conversation_id: int) -> Outcome:
        """Queue the turn again for a failed conversation."""
        return actions.retry(engine=self.engine, conversation_id=conversation_id)

    def choose_agent(
        self,
        conversation_id: int,
        agent_name: str,
        *,
        by: str | None = None,
        hand_over: bool = False,
    ) -> Outcome:
        """Give the thread to an agent (the requester's pick, or a hand-over) and queue a turn."""
        return actions.choose_agent(
            engine=self.engine,
            registry=self.registry,
            conversation_id=conversation_id,
            agent_name=agent_name,
            by=by,
            hand_over=hand_over,
        )

    def approve(
        self,
        conversation_id: int,
        *,
        version: int | None,
        user_id: str,
        user_name: str | None,
        directory: GroupDirectory | None = None,
    ) -> Outcome:
        """Sign off the conversation's requirement card (the current version)."""
        return actions.approve(
            engine=self.engine,
            settings=self.settings,
            repos=self.repo_set(),
            conversation_id=conversation_id,
            version=version,
            user_id=user_id,
            user_name=user_name,
            directory=directory,
        )

    def cancel(self, conversation_id: int, *, by: str | None = None) -> Outcome:
        """Stop working a conversation; a later reply starts it afresh."""
        return actions.cancel(engine=self.engine, conversation_id=conversation_id, by=by)

    def edit_message(self, *, team_id: str, channel_id: str, ts: str, text: str) -> bool:
        """Read an edited message anew when the agent has not answered it yet."""
        return actions.edit_message(
            engine=self.engine, team_id=team_id, channel_id=channel_id, ts=ts, text=text
        )

    def record_feedback(
        self, conversation_id: int, *, message_id: int | None, rating: str, by: str | None
    ) -> None:
        """Keep a person's rating of a deliverable (not shown to the model)."""
        actions.record_feedback(
            engine=self.engine,
            conversation_id=conversation_id,
            message_id=message_id,
            rating=rating,
            by=by,
        )

    def configure_channel(self, *, team_id: str, channel_id: str, **changes: object) -> ChannelView:
        """Change a channel's settings."""
        with session_scope(self.engine) as session:
            setting = channels.save_channel_setting(
                session=session, team_id=team_id, channel_id=channel_id, **changes
            )
            return channel_view_of(setting=setting)

    # Outbox -------------------------------------------------------------------------------------

    def flush_outbox(self, poster: Poster, *, conversation_id: int | None = None) -> int:
        """Post stored replies in order (and scheduler posts) through `poster`; how many."""
        return self.outbox.flush(poster, conversation_id=conversation_id)

    # Reading --------------------------------------------------------------------------------------

    def conversation(self, conversation_id: int) -> ThreadRef | None:
        """A conversation's thread by id."""
        with Session(self.engine) as session:
            conversation = session.get(Conversation, conversation_id)
            return thread_of(conversation=conversation) if conversation else None

    def messages(self, conversation_id: int) -> list[Message]:
        """A conversation's messages, oldest first."""
        with Session(self.engine, expire_on_commit=False) as session:
            return list(
                message_records.thread_messages(session=session, conversation_id=conversation_id)
            )

    def routing_history(self, conversation_id: int) -> list[RouteView]:
        """Every routing decision recorded for a conversation."""
        with Session(self.engine) as session:
            records = routing_records.routing_history(
                session=session, conversation_id=conversation_id
            )
            return [route_of(record=record) for record in records]

    def find_conversation(
        self, *, team_id: str, channel_id: str, thread_ts: str
    ) -> ThreadRef | None:
        """The conversation of a thread, if agentdesk works in it."""
        with Session(self.engine) as session:
            conversation = conversation_records.find_conversation(
                session=session, team_id=team_id, channel_id=channel_id, thread_ts=thread_ts
            )
            return thread_of(conversation=conversation) if conversation else None

    def open_requests(self, *, team_id: str, requester_id: str) -> list[ThreadRef]:
        """A person's open conversations, newest first."""
        with Session(self.engine) as session:
            mine = conversation_records.open_conversations_of(
                session=session, team_id=team_id, requester_id=requester_id
            )
            return [thread_of(conversation=conversation) for conversation in mine]

    def home(self, *, team_id: str, user_id: str, admin: bool) -> HomeSummary:
        """What one person's Home tab shows."""
        return home_summary(
            engine=self.engine,
            registry=self.registry,
            settings=self.settings,
            repos=self.repo_set(),
            team_id=team_id,
            user_id=user_id,
            admin=admin,
        )

    def channel_setting(self, *, team_id: str, channel_id: str) -> ChannelView | None:
        """A channel's settings (default agent, intake, bots), if any."""
        with Session(self.engine) as session:
            setting = channels.channel_setting(
                session=session, team_id=team_id, channel_id=channel_id
            )
            return channel_view_of(setting=setting) if setting else None

    def database_answers(self) -> bool:
        """Whether the database answers a trivial query now."""
        return ping(engine=self.engine)

    def database_kind(self) -> str:
        """`sqlite` or `postgresql`."""
        return str(self.engine.dialect.name)

    def database_revision(self) -> str | None:
        """The migration revision the database is at (None before the first); raises when
        the database can't be reached."""
        return current_revision(self.engine)

    def queue_stats(self) -> QueueStats:
        """How many turns wait and run, and how long the oldest has waited."""
        return queue_stats(engine=self.engine)
