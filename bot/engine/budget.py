"""A channel's monthly budget: once its model spend reaches it, answer politely instead.

The engine calls `refuse_if_over_budget` just before an agent turn would call the model.
Spend is the dollar cost (bot.accounting.prices) of the replies written in the channel since the
start of the calendar month, UTC. A channel's own `monthly_budget_usd` overrides the
CHANNEL_MONTHLY_BUDGET_USD setting; 0 (or no setting at all) means no budget.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.accounting.prices import PriceTable
from bot.config import Settings
from bot.engine.states import Transition, move
from bot.observability.metrics import TURNS
from bot.store import channels, message_records, queue
from bot.store.db import session_scope
from bot.store.models import (
    ChannelSetting,
    Conversation,
    MessageKind,
    PendingWork,
    WorkStatus,
)
from bot.store.usage_reports import UsageGrouping, usage_totals


@dataclass(frozen=True)
class BudgetState:
    """A channel's budget for the month and what it has spent."""

    budget: float  # dollars; 0 means no budget
    spent: float
    month: datetime

    @property
    def exhausted(self) -> bool:
        """True when a budget is set and the spend has reached it."""
        return self.budget > 0 and self.spent >= self.budget


def month_start(now: datetime | None = None) -> datetime:
    """Midnight UTC on the first day of the current month."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def channel_budget(settings: Settings, setting: ChannelSetting | None) -> float:
    """A channel's monthly budget in dollars: its own, else CHANNEL_MONTHLY_BUDGET_USD (0:
    none)."""
    if setting is not None and setting.monthly_budget_usd is not None:
        return setting.monthly_budget_usd
    return settings.channel_monthly_budget_usd


def budget_state(
    *,
    session: Session,
    settings: Settings,
    team_id: str,
    channel_id: str,
    now: datetime | None = None,
) -> BudgetState:
    """The channel's budget this month and its spend so far."""
    month = month_start(now)
    setting = channels.channel_setting(session=session, team_id=team_id, channel_id=channel_id)
    budget = channel_budget(settings, setting)
    if budget <= 0:
        return BudgetState(budget=0.0, spent=0.0, month=month)
    prices = PriceTable(settings.model_prices)
    totals = usage_totals(
        session=session,
        by=UsageGrouping.CHANNEL,
        since=month,
        team_id=team_id,
        channel_id=channel_id,
    )
    spent = sum(prices.cost(total.model, total.usage) or 0.0 for total in totals)
    return BudgetState(budget=budget, spent=spent, month=month)


def refusal_text(state: BudgetState) -> str:
    """What the thread is told instead of an answer."""
    return (
        f"This channel has used its model budget for {state.month:%B %Y} "
        f"(${state.spent:,.2f} of ${state.budget:,.2f}), so I can't work on this now. "
        "It starts again on the first of next month; an admin can raise the budget "
        "sooner, and then Retry picks this up."
    )


def refuse_if_over_budget(
    *,
    engine: Engine,
    settings: Settings,
    conversation_id: int,
    work_id: int,
    worker: str,
    setting: ChannelSetting | None,
) -> bool:
    """When the turn's channel has spent its budget, end the turn with a polite reply
    (status failed, so Retry works once the budget allows) and return True. `setting` is the
    channel's, as the turn read it: a channel without a budget costs no query."""
    if channel_budget(settings, setting) <= 0:
        return False
    with session_scope(engine) as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None or conversation.id is None:
            return False
        state = budget_state(
            session=session,
            settings=settings,
            team_id=conversation.team_id,
            channel_id=conversation.channel_id,
        )
        if not state.exhausted:
            return False
        text = refusal_text(state)
        TURNS.labels(outcome="over_budget").inc()
        if not queue.finish(
            session=session,
            table=PendingWork,
            row_id=work_id,
            status=WorkStatus.FAILED,
            error=text,
            worker=worker,
        ) or not move(conversation, Transition.FAIL, reason=text):
            return True
        message_records.add_assistant_message(
            session=session,
            conversation_id=conversation.id,
            kind=MessageKind.FAILURE,
            text=text,
            payload={"reason": text, "budget": state.budget, "spent": round(state.spent, 4)},
        )
        return True
