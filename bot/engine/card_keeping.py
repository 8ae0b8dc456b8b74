"""Keeping the requirement card: new versions, sign-off withdrawn on change, the card's message.

Every change of the card's content is a new stored version; a sign-off in force for an
older version is withdrawn, and the thread is told. The card's message is rendered from
the stored data and edited in place by the outbox (`bot/store/cards.show_card`).
"""

import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot.config import Settings, split_ids
from bot.engine.requirement_card import (
    AnsweredQuestion,
    CardContent,
    CardState,
    changes,
    parse_card,
    render_card,
)
from bot.engine.sign_off import SignOffRule, sign_off_rule
from bot.repos import RepoSet
from bot.store import cards, message_records, run_records
from bot.store.models import (
    CardApproval,
    Conversation,
    ConversationStatus,
    ImplementationStatus,
    MessageKind,
    MessageRole,
    RequirementCard,
)

# Without past runs, a rough guess from the plan's size: cost and minutes per plan step.
_COST_PER_STEP_USD = 0.12
_MINUTES_PER_STEP = 1.5


@dataclass(frozen=True)
class Estimate:
    """What a run of this card will likely take, and where the figure comes from."""

    cost_usd: float
    seconds: float
    basis: str
    over_budget: bool

    def text(self, budget_usd: float) -> str:
        """One line for the card and the Implement confirmation."""
        line = f"about ${self.cost_usd:.2f} and {_duration(self.seconds)} ({self.basis})"
        if self.over_budget:
            line += f"; above a run's budget of ${budget_usd:.2f} (IMPLEMENT_MAX_COST_USD)"
        return line


@dataclass(frozen=True)
class CardSnapshot:
    """A card version as every surface shows it: its state, rendered text and estimate."""

    conversation_id: int
    version: int
    state: CardState
    text: str
    estimate: Estimate | None = None


def revise(
    session: Session,
    conversation: Conversation,
    content: CardContent,
    *,
    before: CardContent | None,
    author: str,
) -> RequirementCard | None:
    """Store `content` as the card's next version when it differs from `before` (None when
    it does not); a sign-off in force is withdrawn and the thread is told what changed."""
    assert conversation.id is not None
    if before == content:
        return None
    card = cards.add_card_version(
        session=session,
        conversation_id=conversation.id,
        content=content.model_dump(mode="json"),
        author=author,
    )
    approval = cards.current_approval(session=session, conversation_id=conversation.id)
    if approval is not None:
        what = ", ".join(changes(before, content)) or "its content"
        reason = f"the card changed after version {approval.version} was signed off ({what})"
        cards.withdraw_approvals(session=session, conversation_id=conversation.id, reason=reason)
        message_records.add_assistant_message(
            session=session,
            conversation_id=conversation.id,
            kind=MessageKind.NOTICE,
            text=(
                f"Sign-off by {approval.user_name or approval.user_id} withdrawn: {reason}. "
                f"Version {card.version} needs signing off again before anything is built."
            ),
        )
    return card


def _current(session: Session, conversation_id: int) -> tuple[RequirementCard, CardContent] | None:
    """The card's newest version and its content; None when there is no (readable) card."""
    card = cards.latest_card(session=session, conversation_id=conversation_id)
    content = parse_card(card.content) if card else None
    return (card, content) if card is not None and content is not None else None


def _signed_off(session: Session, card: RequirementCard) -> CardApproval | None:
    """The sign-off in force for this very version, if any."""
    approval = cards.current_approval(session=session, conversation_id=card.conversation_id)
    return approval if approval is not None and approval.version == card.version else None


def _snapshot(
    session: Session,
    conversation: Conversation,
    card: RequirementCard,
    content: CardContent,
    *,
    settings: Settings,
    rule: SignOffRule,
) -> CardSnapshot:
    """The card as it stands now, rendered."""
    assert conversation.id is not None
    approval = _signed_off(session, card)
    state = _state(session, conversation.id, content, approval)
    estimate = estimate_run(session, conversation, content, settings=settings, repo=rule.repo)
    return CardSnapshot(
        conversation_id=conversation.id,
        version=card.version,
        state=state,
        text=render_card(
            content,
            version=card.version,
            state=state,
            sign_off=_sign_off_line(approval, content, rule),
            estimate=estimate.text(settings.implement_max_cost_usd) if estimate else None,
        ),
        estimate=estimate,
    )


def show(session: Session, snap: CardSnapshot) -> None:
    """Store the card's message (new, or a new revision the outbox edits in place)."""
    cards.show_card(
        session=session,
        conversation_id=snap.conversation_id,
        text=snap.text,
        payload={"version": snap.version, "state": snap.state.value},
    )


@dataclass(frozen=True)
class CardVersion:
    """One stored version of a card, rendered (for `conversations show --history`)."""

    version: int
    author: str
    created_at: datetime
    text: str


def version_texts(session: Session, conversation_id: int) -> list[CardVersion]:
    """Every stored version of a conversation's card, oldest first, rendered."""
    shown = []
    for card in cards.card_versions(session=session, conversation_id=conversation_id):
        content = parse_card(card.content)
        text = (
            render_card(content, version=card.version, state=_stored(content), sign_off="-")
            if content is not None
            else "(content deleted by retention)"
        )
        shown.append(CardVersion(card.version, card.author, card.created_at, text))
    return shown


def _stored(content: CardContent) -> CardState:
    return CardState.CLARIFYING if content.open_questions else CardState.READY


def _state(
    session: Session, conversation_id: int, content: CardContent, approval: CardApproval | None
) -> CardState:
    runs = run_records.implementation_runs(session=session, conversation_id=conversation_id)
    if runs and runs[-1].status in (ImplementationStatus.QUEUED, ImplementationStatus.RUNNING):
        return CardState.IMPLEMENTING
    if any(run.pr_url for run in runs):
        return CardState.PULL_REQUEST_OPEN
    if approval is not None:
        return CardState.APPROVED
    return _stored(content)


def _sign_off_line(approval: CardApproval | None, content: CardContent, rule: SignOffRule) -> str:
    if approval is not None:
        return (
            f"Approved by {approval.user_name or approval.user_id} "
            f"on {approval.approved_at:%Y-%m-%d %H:%M} UTC (version {approval.version})."
        )
    if content.open_questions:
        line = f"Once the open questions are answered: {rule.description}."
    else:
        line = f"Waiting on {rule.description}: press Approve to agree to this version."
    return " ".join((line, *rule.notes))


def estimate_run(
    session: Session,
    conversation: Conversation,
    content: CardContent,
    *,
    settings: Settings,
    repo: str | None,
) -> Estimate | None:
    """The median cost and duration of this desk's past runs for the same agent and
    repository; from the plan's size where there are none; None before there is a plan."""
    budget = settings.implement_max_cost_usd
    history = cards.finished_runs(session=session, agent=conversation.agent, repo=repo)
    if history:
        cost = statistics.median(c for c, _ in history)
        seconds = statistics.median(s for _, s in history)
        where = f" in {repo}" if repo else ""
        basis = f"median of {len(history)} past run{'s' if len(history) > 1 else ''} of {conversation.agent}{where}"
        return Estimate(cost, seconds, basis, over_budget=cost > budget)
    assert conversation.id is not None
    steps = _plan_steps(session, conversation.id)
    if steps == 0:
        return None
    cost = steps * _COST_PER_STEP_USD
    basis = f"a rough guess from the plan's {steps} steps; no past runs yet"
    return Estimate(cost, steps * _MINUTES_PER_STEP * 60, basis, over_budget=cost > budget)


def _plan_steps(session: Session, conversation_id: int) -> int:
    """How many list items the latest plan has (its steps, roughly)."""
    plan = next(
        (
            m
            for m in reversed(
                message_records.thread_messages(session=session, conversation_id=conversation_id)
            )
            if m.kind is MessageKind.DELIVERABLE
        ),
        None,
    )
    if plan is None:
        return 0
    items = [line.lstrip() for line in plan.text.splitlines()]
    return sum(
        1 for line in items if line.startswith(("- ", "* ")) or line.split(". ", 1)[0].isdigit()
    )


def _duration(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} min" if minutes < 90 else f"{minutes / 60:.1f} h"


def keep(
    session: Session,
    conversation: Conversation,
    *,
    written: dict[str, Any] | None,
    author: str,
    settings: Settings,
    repos: RepoSet | None,
    asked: list[str] | None = None,
    delivered: str | None = None,
    show_now: bool = True,
) -> CardSnapshot | None:
    """After a turn: store the card the agent wrote (with the questions it just asked listed
    as open) and show it. An agent that asks or delivers without writing a card gets one
    made from the request itself, so the thread always has a card to sign off. With
    `show_now` false the caller shows it later (`refresh`), once the turn's reply is stored."""
    assert conversation.id is not None
    current = _current(session, conversation.id)
    before = current[1] if current else None
    content = (parse_card(written) if written else None) or before
    if content is None:
        if not (asked or delivered):
            return None
        content = _first_card(session, conversation, title=delivered)
    if asked:
        content = content.with_questions(asked)
    if delivered and not written and content.open_questions:
        content = _answered_in_thread(session, conversation.id, content)
    revise(session, conversation, content, before=before, author=author)
    if not show_now and cards.card_message(session=session, conversation_id=conversation.id):
        return None  # its place in the thread is kept; the caller shows it
    return refresh(session, conversation, settings=settings, repos=repos)


def refresh(
    session: Session, conversation: Conversation, *, settings: Settings, repos: RepoSet | None
) -> CardSnapshot | None:
    """Show the card as it stands now (its state follows runs and sign-offs too); None when
    the conversation has no card."""
    assert conversation.id is not None
    current = _current(session, conversation.id)
    if current is None:
        return None
    card, content = current
    rule = _rule(conversation, content, settings=settings, repos=repos)
    snap = _snapshot(session, conversation, card, content, settings=settings, rule=rule)
    show(session, snap)
    return snap


def rule_for(
    session: Session, conversation: Conversation, *, settings: Settings, repos: RepoSet | None
) -> SignOffRule:
    """Who may sign off this conversation's card as it stands."""
    assert conversation.id is not None
    current = _current(session, conversation.id)
    return _rule(conversation, current[1] if current else None, settings=settings, repos=repos)


def _rule(
    conversation: Conversation,
    content: CardContent | None,
    *,
    settings: Settings,
    repos: RepoSet | None,
) -> SignOffRule:
    return sign_off_rule(
        settings,
        requester_id=conversation.requester_id,
        requester_name=conversation.requester_name,
        card=content,
        repos=repos,
    )


def _answered_in_thread(
    session: Session, conversation_id: int, content: CardContent
) -> CardContent:
    """An agent that delivers without keeping the card took its questions as answered: the
    card says so, with what people wrote since they were asked."""
    replies: list[str] = []
    for message in message_records.thread_messages(
        session=session, conversation_id=conversation_id
    ):
        if message.kind is MessageKind.QUESTIONS:
            replies = []
        elif message.role is MessageRole.USER and message.kind is MessageKind.TEXT:
            replies.append(" ".join(message.text.split()))
    answer = "; ".join(replies)[:600] or "settled in the thread"
    answered = [
        AnsweredQuestion(question=q.question, answer=answer) for q in content.open_questions
    ]
    return content.model_copy(
        update={"open_questions": [], "answered": [*content.answered, *answered]}
    )


def _first_card(session: Session, conversation: Conversation, *, title: str | None) -> CardContent:
    """A card from the request itself, for an agent that did not write one."""
    assert conversation.id is not None
    first = next(
        (
            m.text
            for m in message_records.thread_messages(
                session=session, conversation_id=conversation.id
            )
            if m.role is MessageRole.USER and m.kind is MessageKind.TEXT and m.text.strip()
        ),
        conversation.title,
    )
    return CardContent(
        title=(title or conversation.title or "Request")[:200],
        problem=(first or "Not stated yet.")[:2000],
    )


def signed_off_text(session: Session, conversation_id: int) -> str | None:
    """The card version last signed off, as Markdown, for a run's prompt and pull request."""
    approval = cards.last_approval(session=session, conversation_id=conversation_id)
    card = (
        cards.card_version(
            session=session, conversation_id=conversation_id, version=approval.version
        )
        if approval
        else None
    )
    content = parse_card(card.content) if card else None
    if approval is None or content is None:
        return None
    return render_card(
        content,
        version=approval.version,
        state=CardState.APPROVED,
        sign_off=_sign_off_line(approval, content, SignOffRule(description="")),
    )


def implement_refusal(
    session: Session, conversation: Conversation, *, settings: Settings, repos: RepoSet | None
) -> str | None:
    """Why the conversation's card does not allow building yet; None when it is signed off."""
    assert conversation.id is not None
    current = _current(session, conversation.id)
    if current is None:
        return "There is no requirement card to build from yet: the agent writes one first."
    card, content = current
    rule = _rule(conversation, content, settings=settings, repos=repos)
    if content.open_questions:
        waiting = sorted({q.waits_on or "the requester" for q in content.open_questions})
        count = len(content.open_questions)
        return (
            f"The requirement card still has {count} open question{'s' if count > 1 else ''} "
            f"(waiting on {', '.join(waiting)}). Once they are answered, {rule.who} "
            "signs the card off, and then it can be built."
        )
    if _signed_off(session, card) is None:
        return (
            f"The requirement card (version {card.version}) is not signed off yet: "
            f"{rule.who} presses Approve on it first."
        )
    return None


@dataclass(frozen=True)
class Wait:
    """What a conversation waits on from people, and since when."""

    what: str
    since: datetime
    sign_off: bool  # the card's sign-off, rather than answers


def waiting_for(session: Session, conversation: Conversation) -> Wait | None:
    """Answers to the agent's questions, or the sign-off of a card with none open."""
    assert conversation.id is not None
    if conversation.status is ConversationStatus.AWAITING_USER and conversation.awaiting_since:
        return Wait("answers to its questions", conversation.awaiting_since, sign_off=False)
    current = _current(session, conversation.id)
    if current is None or current[1].open_questions or _signed_off(session, current[0]):
        return None
    card = current[0]
    return Wait("the sign-off of its requirement card", card.created_at, sign_off=True)


def sign_offs_waiting_on(
    session: Session, *, team_id: str, user_id: str, settings: Settings, repos: RepoSet | None
) -> list[Conversation]:
    """The workspace's cards ready for sign-off that this person may approve themselves
    (by user id: user groups are not expanded here), newest first."""
    # Only code owners depend on each card; otherwise the person approves either every card
    # (named in APPROVERS), none (APPROVERS names others), or only their own requests.
    approvers = split_ids(settings.approvers)
    if not settings.require_codeowners and approvers and user_id not in approvers:
        return []
    mine_only = not settings.require_codeowners and not approvers
    waiting = []
    for conversation in cards.conversations_with_cards(
        session=session,
        team_id=team_id,
        statuses=_SIGNED_OFF_IN,
        requester_id=user_id if mine_only else None,
    ):
        wait = waiting_for(session, conversation)
        if wait is None or not wait.sign_off:
            continue
        rule = rule_for(session, conversation, settings=settings, repos=repos)
        if user_id in rule.user_ids:
            waiting.append(conversation)
    return waiting


def sign_offs_waiting(session: Session, *, team_id: str) -> list[datetime]:
    """Since when each of the workspace's cards ready for sign-off has waited."""
    waits = (
        waiting_for(session, conversation)
        for conversation in cards.conversations_with_cards(
            session=session, team_id=team_id, statuses=_SIGNED_OFF_IN, limit=500
        )
    )
    return [wait.since for wait in waits if wait is not None and wait.sign_off]


_SIGNED_OFF_IN = (ConversationStatus.DELIVERED, ConversationStatus.AWAITING_USER)
