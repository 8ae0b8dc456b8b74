"""What a person's Home shows: their open requests and what each waits for, the answers and
sign-offs waiting on them, the agents, and for admins the channel settings and this week's usage."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.agents.registry import AgentRegistry
from bot.config import Settings
from bot.engine import card_keeping
from bot.repos import RepoSet
from bot.store import conversation_records, insights
from bot.store.insights import Usage
from bot.store.models import ChannelSetting, Conversation, ConversationStatus

S = ConversationStatus

_WAITS_FOR = {
    S.ROUTING: "finding the right agent",
    S.CHOOSING_AGENT: "you to pick an agent",
    S.WORKING: "the agent, who is working on it",
    S.AWAITING_USER: "your answer",
    S.FAILED: "a retry (it failed)",
}


@dataclass(frozen=True)
class HomeRequest:
    """One open request as the Home lists it."""

    title: str
    agent: str | None
    waits_for: str
    channel_id: str
    thread_ts: str
    asks_you: bool


@dataclass(frozen=True)
class HomeSummary:
    """Everything one person's Home tab shows."""

    requests: list[HomeRequest]
    agents: list[tuple[str, str]]
    channels: list[ChannelSetting] = field(default_factory=list)
    week: Usage | None = None  # admins only

    @property
    def questions(self) -> list[HomeRequest]:
        """The requests waiting on this person's answer."""
        return [request for request in self.requests if request.asks_you]


def home_summary(
    *,
    engine: Engine,
    registry: AgentRegistry,
    team_id: str,
    user_id: str,
    admin: bool,
    settings: Settings | None = None,
    repos: RepoSet | None = None,
    now: datetime | None = None,
) -> HomeSummary:
    """Read what one person's Home shows (admins also get the workspace's settings and week)."""
    since = (now or datetime.now(UTC)) - timedelta(days=7)
    agents = [(agent.name, _first_line(agent.description)) for agent in registry.roster()]
    with Session(engine, expire_on_commit=False) as session:
        mine = conversation_records.open_conversations_of(
            session=session, team_id=team_id, requester_id=user_id
        )
        requests = [_request(conversation) for conversation in mine]
        if settings is not None:
            requests += [
                _request(conversation, waits_for="your sign-off of its requirement card")
                for conversation in card_keeping.sign_offs_waiting_on(
                    session, team_id=team_id, user_id=user_id, settings=settings, repos=repos
                )
            ]
        if not admin:
            return HomeSummary(requests=requests, agents=agents)
        channels = list(insights.channel_settings(session=session, team_id=team_id))
        week = insights.usage_since(session=session, team_id=team_id, since=since)
    return HomeSummary(requests=requests, agents=agents, channels=channels, week=week)


def _request(conversation: Conversation, *, waits_for: str | None = None) -> HomeRequest:
    return HomeRequest(
        title=conversation.title or "Feature request",
        agent=conversation.agent,
        waits_for=waits_for or _WAITS_FOR.get(conversation.status, conversation.status.value),
        channel_id=conversation.channel_id,
        thread_ts=conversation.thread_ts,
        asks_you=waits_for is not None
        or conversation.status in (S.AWAITING_USER, S.CHOOSING_AGENT),
    )


def _first_line(description: str) -> str:
    return description.split(". ")[0].split("\n")[0].split("<example>")[0].strip()[:150]
