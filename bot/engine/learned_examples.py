"""The router's view of a workspace's confirmed routes, read from the database."""

from collections.abc import Sequence

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.routing.decision import RouteDecision, RouteMethod
from bot.routing.learned import LabelledExample
from bot.store import confirmed_routes
from bot.store.models import Conversation


class StoredRouteExamples:
    """`LearnedExamples` backed by the `route_example` table (newest first)."""

    def __init__(
        self, engine: Engine, *, limit: int = confirmed_routes.ROUTE_EXAMPLES_KEPT
    ) -> None:
        self.engine = engine
        self.limit = limit

    def examples(self, *, team_id: str) -> Sequence[LabelledExample]:
        """The workspace's confirmed routes, newest first."""
        with Session(self.engine) as session:
            rows = confirmed_routes.route_examples(
                session=session, team_id=team_id, limit=self.limit
            )
            return [LabelledExample(text=r.text, agent=r.agent, source=r.source) for r in rows]


def learn_from(session: Session, conversation: Conversation, decision: RouteDecision) -> None:
    """Keep a route a person chose by name (`--agent`, `NAME: …`) as a labelled example."""
    if decision.method is RouteMethod.EXPLICIT and decision.agent:
        confirmed_routes.add_route_example(
            session=session, conversation=conversation, agent=decision.agent, source="named"
        )
