"""Intake: a person's message and the turn it causes, stored in one transaction."""

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.agents.registry import AgentRegistry
from bot.engine.inbound import InboundMessage
from bot.engine.ports import FollowUpRuns
from bot.engine.states import Transition, can, move, refusal
from bot.routing.explicit import named_in_thread
from bot.store import conversation_records, message_records, pending_work, seen_events
from bot.store.db import session_scope
from bot.store.models import Conversation, ConversationStatus, Message, MessageRole

_TITLE_CHARS = 120


@dataclass(frozen=True)
class Intake:
    """What happened to an inbound message."""

    conversation_id: int | None
    message_id: int | None
    duplicate: bool = False
    ignored: bool = False  # not part of any conversation (e.g. chatter in a thread we don't own)
    work_id: int | None = None
    agent: str | None = None  # who has the conversation now (None: routing decides)
    refused: str | None = None  # why it changed nothing (a stale answer button), for the clicker
    follow_up: bool = False  # taken by work outside the agent's turns (`FollowUpRuns`)


# Where an answer button still answers: the agent asked, or works on an earlier answer.
_ASKING = (ConversationStatus.AWAITING_USER, ConversationStatus.WORKING)


def take_in(
    *,
    engine: Engine,
    inbound: InboundMessage,
    registry: AgentRegistry,
    follow_ups: FollowUpRuns | None = None,
) -> Intake:
    """Store a person's message and the turn it causes, in one transaction; a reply that
    `follow_ups` takes (a change to an open pull request) causes its run instead."""
    with session_scope(engine) as session:
        conversation = conversation_records.find_conversation(
            session=session,
            team_id=inbound.team_id,
            channel_id=inbound.channel_id,
            thread_ts=inbound.thread_ts,
        )
        if conversation is None and not inbound.start_conversation:
            return Intake(conversation_id=None, message_id=None, ignored=True)
        if (
            conversation is not None
            and inbound.answers_question
            and conversation.status not in _ASKING
        ):
            return Intake(
                conversation_id=conversation.id, message_id=None, refused=refusal(conversation)
            )
        if not seen_events.mark_seen(session=session, keys=inbound.event_keys):
            return Intake(conversation_id=None, message_id=None, duplicate=True)
        new = conversation is None
        if conversation is None:
            conversation = _start(session=session, inbound=inbound)
        assert conversation.id is not None
        # "frontend-feature-developer: take over" inside a thread hands it over.
        explicit = inbound.explicit_agent or named_in_thread(
            inbound.text, owner=conversation.agent, registry=registry
        )
        message = message_records.add_message(
            session=session,
            message=Message(
                conversation_id=conversation.id,
                role=MessageRole.USER,
                author_id=inbound.user_id,
                author_name=inbound.user_name,
                text=inbound.text,
                slack_ts=inbound.ts,
                payload={"explicit_agent": explicit} if explicit else None,
            ),
        )
        assert message.id is not None
        if not new and follow_ups is not None and follow_ups.take(session, conversation, message):
            return Intake(conversation_id=conversation.id, message_id=message.id, follow_up=True)
        if can(conversation, Transition.RESTART):
            conversation.agent = None  # a reply after a cancel starts afresh
            move(conversation, Transition.RESTART)
        elif can(conversation, Transition.PERSON_REPLIED):
            # Reopens a closed or delivered thread, works a failed one again, and answers
            # a waiting one (so no reminder is due any more).
            move(conversation, Transition.PERSON_REPLIED)
        if explicit and conversation.agent != explicit:
            conversation.agent = None  # re-route: the person named an agent
            move(conversation, Transition.ROUTE_AGAIN)
        work = pending_work.enqueue_turn(
            session=session, conversation_id=conversation.id, message_id=message.id, new=new
        )
        return Intake(
            conversation_id=conversation.id,
            message_id=message.id,
            work_id=work.id,
            agent=conversation.agent,
        )


def _start(*, session: Session, inbound: InboundMessage) -> Conversation:
    conversation = conversation_records.create_conversation(
        session=session,
        conversation=Conversation(
            team_id=inbound.team_id,
            channel_id=inbound.channel_id,
            thread_ts=inbound.thread_ts,
            source=inbound.source.value,
            requester_id=inbound.user_id,
            requester_name=inbound.user_name,
            title=title_of(inbound.text),
            status=ConversationStatus.ROUTING,
        ),
    )
    assert conversation.id is not None
    for prior in inbound.prior_messages:
        message_records.add_message(
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
    return conversation


def title_of(text: str) -> str:
    """A conversation's title: the request on one line, cut to a readable length."""
    line = " ".join(text.split())
    return line if len(line) <= _TITLE_CHARS else line[: _TITLE_CHARS - 1] + "…"
