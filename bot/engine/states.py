"""The conversation state machine: every status change is a named transition, checked here.

`routing` → (`choosing_agent`) → `working` → `awaiting_user` ⇄ `working` → `delivered` →
`closed`; from any open state: `cancelled`, or `failed` (retryable). A transition that does
not fit the conversation's state changes nothing and says so, so a stale button or a late
event can never revive a cancelled conversation.
"""

import logging
from dataclasses import dataclass
from enum import StrEnum

from bot.store import conversation_records
from bot.store.models import Conversation, ConversationStatus

log = logging.getLogger(__name__)

S = ConversationStatus


class Transition(StrEnum):
    """What happened to a conversation."""

    ROUTE_AGAIN = "route_again"  # nobody fits yet, or the person named another agent
    ASK_WHICH_AGENT = "ask_which_agent"  # the router asks the requester to pick
    START_TURN = "start_turn"  # an agent works the thread
    ASK_QUESTIONS = "ask_questions"  # the agent asked; the requester's turn
    ANSWER = "answer"  # the agent answered in plain words; the requester's turn
    DELIVER = "deliver"  # the design and plan are out
    PERSON_REPLIED = "person_replied"  # a reply in the thread: work it again
    RESTART = "restart"  # a reply after a cancel starts afresh
    CHOOSE_AGENT = "choose_agent"  # the requester answered "which agent?"
    HAND_OVER = "hand_over"  # someone gives the thread to another agent
    RETRY = "retry"  # the Retry button on a failure
    FAIL = "fail"
    CANCEL = "cancel"
    CLOSE = "close"  # quiet for too long


_OPEN = frozenset({S.ROUTING, S.CHOOSING_AGENT, S.WORKING, S.AWAITING_USER, S.FAILED})
_WORKED = _OPEN | {S.DELIVERED}


@dataclass(frozen=True)
class _Rule:
    allowed_from: frozenset[ConversationStatus]
    to: ConversationStatus


_RULES: dict[Transition, _Rule] = {
    Transition.ROUTE_AGAIN: _Rule(_WORKED | {S.CLOSED}, S.ROUTING),
    Transition.ASK_WHICH_AGENT: _Rule(frozenset({S.ROUTING, S.WORKING}), S.CHOOSING_AGENT),
    Transition.START_TURN: _Rule(frozenset({S.ROUTING, S.WORKING, S.CHOOSING_AGENT}), S.WORKING),
    Transition.ASK_QUESTIONS: _Rule(frozenset({S.WORKING}), S.AWAITING_USER),
    Transition.ANSWER: _Rule(frozenset({S.WORKING}), S.AWAITING_USER),
    Transition.DELIVER: _Rule(frozenset({S.WORKING}), S.DELIVERED),
    Transition.PERSON_REPLIED: _Rule(
        frozenset({S.AWAITING_USER, S.DELIVERED, S.CLOSED, S.FAILED}), S.WORKING
    ),
    Transition.RESTART: _Rule(frozenset({S.CANCELLED}), S.ROUTING),
    Transition.CHOOSE_AGENT: _Rule(frozenset({S.CHOOSING_AGENT, S.ROUTING}), S.WORKING),
    Transition.HAND_OVER: _Rule(_WORKED | {S.CLOSED}, S.WORKING),
    Transition.RETRY: _Rule(frozenset({S.FAILED}), S.WORKING),
    Transition.FAIL: _Rule(_OPEN, S.FAILED),
    Transition.CANCEL: _Rule(_WORKED, S.CANCELLED),
    Transition.CLOSE: _Rule(
        frozenset({S.AWAITING_USER, S.DELIVERED, S.CHOOSING_AGENT, S.ROUTING, S.FAILED}), S.CLOSED
    ),
}


def can(conversation: Conversation, transition: Transition) -> bool:
    """Whether `transition` fits the conversation's current state."""
    return conversation.status in _RULES[transition].allowed_from


def move(
    conversation: Conversation,
    transition: Transition,
    *,
    reason: str | None = None,
    to: ConversationStatus | None = None,
) -> bool:
    """Apply `transition` if it fits the state; False (and nothing changed) when it does not.

    `to` narrows where a transition lands when it has a choice (a retry of a thread that has
    no agent yet goes back to routing).
    """
    rule = _RULES[transition]
    if conversation.status not in rule.allowed_from:
        log.info(
            "conversation %s: %s does not fit %s; nothing changed",
            conversation.id,
            transition.value,
            conversation.status.value,
        )
        return False
    target = to or rule.to
    if to is not None and to not in (rule.to, S.ROUTING):
        raise ValueError(f"{transition.value} cannot land in {to.value}")
    conversation_records.set_status(conversation=conversation, status=target, reason=reason)
    return True


def refusal(conversation: Conversation) -> str:
    """A short answer for a click or command that no longer fits the conversation."""
    status = conversation.status
    if status is S.CANCELLED:
        return "This request was cancelled. Reply in its thread to start it again."
    if status is S.CLOSED:
        return "This request is closed. Reply in its thread to reopen it."
    if status is S.FAILED:
        return "This request stopped after a failure; press Retry in its thread."
    if status is S.DELIVERED:
        return "The plan is delivered already; reply in its thread to change it."
    if conversation.agent:
        return f"*{conversation.agent}* is already on this request."
    return "That button is out of date; the thread has moved on."
