"""The shipped agents on unseen phrasing, the team's confirmed routes, and the index cache."""

from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest
from sqlmodel import Session

from bot.agents.registry import AgentRegistry, load_roster
from bot.config import Settings
from bot.engine.learned_examples import StoredRouteExamples
from bot.llm.client import LLMClient
from bot.routing.decision import RouteMethod
from bot.routing.learned import FixedExamples, LabelledExample
from bot.routing.local import LocalIndex
from bot.routing.model_classifier import TOOL_NAME, ModelClassifier
from bot.routing.router import Router
from bot.store import confirmed_routes, conversation_records, message_records
from bot.store.db import make_engine, upgrade
from bot.store.models import Conversation, Message, MessageRole
from tests.conftest import PROJECT_ROOT
from tests.fakes.anthropic_server import FakeAnthropic
from tests.routing.conftest import agent_text

SHIPPED = PROJECT_ROOT / "agents"
BACKEND = "backend-feature-developer"
UNSEEN = [
    "Add rate limiting to our public REST API",
    "Add a new API endpoint for user profile updates",
]


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


def classifier_for(fake: FakeAnthropic) -> ModelClassifier:
    sdk = anthropic.Anthropic(api_key="test-key", base_url=fake.base_url, max_retries=0)
    llm = LLMClient(Settings(_env_file=None), sdk=sdk)  # type: ignore[call-arg]
    return ModelClassifier(llm=llm, model="claude-haiku-5-5")


@pytest.mark.parametrize("text", UNSEEN)
def test_shipped_agents_never_decide_these_locally_for_the_wrong_agent(text: str) -> None:
    decision = Router(load_roster(SHIPPED)).route(text=text, local_only=True)
    assert decision.method is not RouteMethod.LOCAL or decision.agent == BACKEND
    assert BACKEND in [c.agent for c in LocalIndex(load_roster(SHIPPED)).score(text)[:15]]


@pytest.mark.parametrize("text", UNSEEN)
def test_with_a_scripted_model_they_reach_the_backend_agent(text: str, fake: FakeAnthropic) -> None:
    fake.reply_tool_use(
        TOOL_NAME, {"reasoning": "Server-side API work.", "agent": BACKEND, "confident": True}
    )
    decision = Router(load_roster(SHIPPED), classifier_for(fake)).route(text=text)
    assert (decision.agent, decision.method) == (BACKEND, RouteMethod.MODEL)
    body = fake.message_requests[0].body
    offered = body["tools"][0]["input_schema"]["properties"]["agent"]["enum"]
    assert BACKEND in offered and len(offered) <= 16


def test_a_confirmed_route_changes_the_next_similar_request() -> None:
    roster = load_roster(SHIPPED)
    text = "Add rate limiting to the public REST API, please"
    before = Router(roster).route(text=text, local_only=True, team_id="T1")
    assert before.method is RouteMethod.ASK
    learned = FixedExamples([LabelledExample(text=UNSEEN[0], agent=BACKEND)])
    after = Router(roster, learned=learned).route(text=text, local_only=True, team_id="T1")
    assert (after.agent, after.method) == (BACKEND, RouteMethod.LOCAL)
    assert "the team gave a request like this" in after.reason
    assert after.examples[0]["source"] == "team" and after.examples[0]["request"] == UNSEEN[0]


def test_confirmed_routes_are_few_shot_examples_for_the_model(fake: FakeAnthropic) -> None:
    fake.reply_tool_use(TOOL_NAME, {"reasoning": "r", "agent": BACKEND, "confident": True})
    learned = FixedExamples([LabelledExample(text="Throttle abusive API clients", agent=BACKEND)])
    router = Router(load_roster(SHIPPED), classifier_for(fake), learned=learned)
    router.route(text="Please throttle API clients that send too many calls", team_id="T1")
    sent = fake.message_requests[0].body["messages"][0]["content"]
    text = sent if isinstance(sent, str) else "".join(b.get("text", "") for b in sent)
    assert '"Throttle abusive API clients" → backend-feature-developer' in text


def test_stored_routes_are_per_workspace_and_a_handover_replaces_them(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(engine)
    with Session(engine) as session:
        conversation = conversation_records.create_conversation(
            session=session,
            conversation=Conversation(
                team_id="T1",
                channel_id="C1",
                thread_ts="1.0",
                source="mention",
                requester_id="U1",
                title="rate limits",
            ),
        )
        assert conversation.id is not None
        message_records.add_message(
            session=session,
            message=Message(
                conversation_id=conversation.id,
                role=MessageRole.USER,
                author_id="U1",
                text=UNSEEN[0],
            ),
        )
        confirmed_routes.add_route_example(
            session=session,
            conversation=conversation,
            agent="integration-architect",
            source="chosen",
        )
        confirmed_routes.add_route_example(
            session=session, conversation=conversation, agent=BACKEND, source="chosen"
        )
        session.commit()
    store = StoredRouteExamples(engine)
    assert store.examples(team_id="T1") == [
        LabelledExample(text=UNSEEN[0], agent=BACKEND, source="chosen")
    ]
    assert store.examples(team_id="T2") == []


def test_a_roster_change_invalidates_the_cached_index(tmp_path: Path) -> None:
    folder = tmp_path / "agents"
    folder.mkdir()
    path = folder / "a.md"
    path.write_text(agent_text("alpha", "Kubernetes clusters and Helm charts."), "utf-8")
    (folder / "b.md").write_text(agent_text("beta", "Terraform modules and state."), "utf-8")
    registry = AgentRegistry(folder)
    first = LocalIndex.for_roster(registry.roster())
    assert LocalIndex.for_roster(registry.roster()) is first
    assert first.score("helm chart")[0].agent == "alpha"
    path.write_text(agent_text("alpha", "Figma mockups and design tokens, a lot."), "utf-8")
    second = LocalIndex.for_roster(registry.roster())
    assert second is not first
    assert second.score("helm chart")[0].score == 0
