"""What people do besides writing: choose or hand over an agent, cancel, retry, edit, rate.

Each action checks the conversation's state through the state machine; one that no longer
fits (a stale button, a second click) changes nothing and says why in `Outcome.note`.
"""

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.agents.registry import AgentRegistry
from bot.config import Settings
from bot.engine import card_keeping
from bot.engine.intake import title_of
from bot.engine.ports import GroupDirectory
from bot.engine.requirement_card import parse_card
from bot.engine.states import Transition, can, move, refusal
from bot.repos import RepoSet
from bot.routing.decision import RouteMethod
from bot.store import cards, confirmed_routes, message_records, pending_work, routing_records
from bot.store.db import session_scope
from bot.store.models import (
    CardApproval,
    Conversation,
    ConversationStatus,
    Message,
    MessageKind,
    MessageRole,
    RoutingRecord,
)


@dataclass(frozen=True)
class Outcome:
    """Whether an action changed anything; `note` tells the person why not."""

    done: bool
    note: str | None = None

    def __bool__(self) -> bool:
        return self.done


_MISSING = Outcome(done=False, note="That request no longer exists.")


def retry(*, engine: Engine, conversation_id: int) -> Outcome:
    """Queue the turn again for a failed conversation."""
    with session_scope(engine) as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            return _MISSING
        target = None if conversation.agent else ConversationStatus.ROUTING
        if not move(conversation, Transition.RETRY, to=target):
            return Outcome(done=False, note=refusal(conversation))
        pending_work.enqueue_turn(session=session, conversation_id=conversation_id)
        return Outcome(done=True)


def choose_agent(
    *,
    engine: Engine,
    registry: AgentRegistry,
    conversation_id: int,
    agent_name: str,
    by: str | None = None,
    hand_over: bool = False,
) -> Outcome:
    """Give the thread to an agent and queue a turn: the requester's answer to "which
    agent?" (`hand_over=False`), or a hand-over from the agent that has it."""
    agent = registry.roster().get(agent_name)
    if agent is None:
        return Outcome(done=False, note=f"There is no agent named {agent_name} any more.")
    with session_scope(engine) as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            return _MISSING
        if conversation.agent == agent.name:
            return Outcome(done=False, note=f"*{agent.name}* is already on this request.")
        transition = Transition.HAND_OVER if hand_over else Transition.CHOOSE_AGENT
        if not can(conversation, transition):
            return Outcome(done=False, note=refusal(conversation))
        previous = conversation.agent
        conversation.agent = agent.name
        move(conversation, transition)
        confirmed_routes.add_route_example(
            session=session, conversation=conversation, agent=agent.name, source="chosen"
        )
        handed = f", handed over from {previous}" if previous else ""
        routing_records.record_routing(
            session=session,
            record=RoutingRecord(
                conversation_id=conversation_id,
                method=RouteMethod.EXPLICIT.value,
                agent=agent.name,
                confidence=1.0,
                reason=f"chosen by {by or 'a person'}{handed}",
            ),
        )
        if previous:
            message_records.add_assistant_message(
                session=session,
                conversation_id=conversation_id,
                kind=MessageKind.NOTICE,
                text=f"Handed over from *{previous}* to *{agent.name}*.",
            )
        pending_work.enqueue_turn(session=session, conversation_id=conversation_id)
        return Outcome(done=True)


def cancel(*, engine: Engine, conversation_id: int, by: str | None = None) -> Outcome:
    """Stop working a conversation; a later reply starts it afresh."""
    with session_scope(engine) as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            return _MISSING
        if not move(conversation, Transition.CANCEL):
            return Outcome(done=False, note=refusal(conversation))
        pending_work.cancel_work(session=session, conversation_id=conversation_id)
        message_records.add_assistant_message(
            session=session,
            conversation_id=conversation_id,
            kind=MessageKind.NOTICE,
            text="Cancelled" + (f" by {by}" if by else "") + ". Reply here to start again.",
        )
        return Outcome(done=True)


def edit_message(*, engine: Engine, team_id: str, channel_id: str, ts: str, text: str) -> bool:
    """Read an edited message anew when the agent has not answered it yet."""
    with session_scope(engine) as session:
        message = message_records.find_user_message(
            session=session, team_id=team_id, channel_id=channel_id, ts=ts
        )
        if message is None or message.id is None:
            return False
        later = message_records.thread_messages(
            session=session, conversation_id=message.conversation_id
        )
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
            conversation.title = title_of(text)
        return True


def record_feedback(
    *, engine: Engine, conversation_id: int, message_id: int | None, rating: str, by: str | None
) -> None:
    """Keep a person's rating of a deliverable (not shown to the model)."""
    with session_scope(engine) as session:
        message_records.add_message(
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


def approve(
    *,
    engine: Engine,
    settings: Settings,
    repos: RepoSet | None,
    conversation_id: int,
    version: int | None,
    user_id: str,
    user_name: str | None,
    directory: GroupDirectory | None,
) -> Outcome:
    """Sign off the card's current version, when this person may and nothing is open."""
    with Session(engine) as session:  # who may is asked before anything is written
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            return _MISSING
        rule = card_keeping.rule_for(session, conversation, settings=settings, repos=repos)
    allowed = rule.allows(user_id, team_id=conversation.team_id, directory=directory)
    with session_scope(engine) as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            return _MISSING
        if conversation.status in (ConversationStatus.CANCELLED, ConversationStatus.CLOSED):
            return Outcome(done=False, note=refusal(conversation))
        card = cards.latest_card(session=session, conversation_id=conversation_id)
        content = parse_card(card.content) if card else None
        if card is None or content is None:
            return Outcome(done=False, note="This request has no requirement card yet.")
        if version is not None and version != card.version:
            return Outcome(
                done=False,
                note=f"The card changed since (it is at version {card.version} now): "
                "read it again and approve the current version.",
            )
        if content.open_questions:
            return Outcome(
                done=False,
                note="The card still has open questions; it can be signed off once they "
                "are answered.",
            )
        current = cards.current_approval(session=session, conversation_id=conversation_id)
        if current is not None and current.version == card.version:
            who = current.user_name or current.user_id
            return Outcome(done=False, note=f"{who} has signed off this version already.")
        if not allowed:
            return Outcome(done=False, note=rule.refusal())
        cards.add_approval(
            session=session,
            approval=CardApproval(
                conversation_id=conversation_id,
                version=card.version,
                user_id=user_id,
                user_name=user_name,
            ),
        )
        message_records.add_assistant_message(
            session=session,
            conversation_id=conversation_id,
            kind=MessageKind.NOTICE,
            text=f"{user_name or user_id} signed off the requirement card (version "
            f"{card.version}). It can be built now.",
        )
        card_keeping.refresh(session, conversation, settings=settings, repos=repos)
        return Outcome(done=True)
