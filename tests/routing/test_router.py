"""The routing order, end to end: explicit, channel default, local, model, ask.

A thread that has an agent keeps it without routing: tests/engine/test_conversation.py.
"""

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from bot.agents.registry import AgentRegistry, Roster
from bot.config import Settings
from bot.llm.client import LLMClient
from bot.routing.decision import RouteMethod
from bot.routing.model_classifier import TOOL_NAME, ModelClassifier
from bot.routing.router import LOCAL_FLOOR, Router
from bot.routing.terms import QUERY_CHAR_LIMIT
from tests.fakes.anthropic_server import FakeAnthropic
from tests.routing.conftest import BACKEND, agent_text

CLEAR = "build OAuth login with database schemas and authentication endpoints"  # local scoring decides: backend-feature-developer
UNMATCHED = "Our checkout is slow, please look into it"  # no agent's words at all
CLOSE = "Can you help with the reports page layout?"  # frontend ahead, but not by enough


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def classifier(fake: FakeAnthropic) -> ModelClassifier:
    sdk = anthropic.Anthropic(api_key="test-key", base_url=fake.base_url, max_retries=0)
    llm = LLMClient(Settings(_env_file=None), sdk=sdk)  # type: ignore[call-arg]
    return ModelClassifier(llm=llm, model="claude-haiku-5-5")


def choose(fake: FakeAnthropic, agent: str, *, confident: bool = True) -> None:
    answer = {"reasoning": "it fits", "agent": agent, "confident": confident}
    fake.reply_tool_use(TOOL_NAME, answer)


def text_of(message: dict[str, Any]) -> str:
    """The text of a sent message, whether its content is a string or blocks."""
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content)


# 1. Explicit -------------------------------------------------------------------------------


def test_explicit_name_in_the_text(registry: AgentRegistry) -> None:
    decision = Router(registry).route(text="Backend Architect: plan the sharding")
    assert (decision.agent, decision.method) == ("Backend Architect", RouteMethod.EXPLICIT)
    assert decision.text == "plan the sharding"
    assert decision.confidence == 1.0


def test_explicit_agent_from_a_button_or_option(registry: AgentRegistry) -> None:
    decision = Router(registry).route(text=UNMATCHED, explicit_agent="frontend")
    assert (decision.agent, decision.method) == ("frontend-feature-developer", RouteMethod.EXPLICIT)


def test_unknown_explicit_agent_asks(registry: AgentRegistry) -> None:
    decision = Router(registry).route(text=CLEAR, explicit_agent="payments-wizard")
    assert decision.method is RouteMethod.ASK and decision.agent is None
    assert "payments-wizard" in decision.reason
    assert decision.candidates[0].agent == "backend-feature-developer"


# 3. Channel default ------------------------------------------------------------------------


def test_channel_default(registry: AgentRegistry) -> None:
    decision = Router(registry).route(text=CLEAR, channel_default="Backend Architect")
    assert (decision.agent, decision.method) == ("Backend Architect", RouteMethod.CHANNEL_DEFAULT)


# 4. Local ----------------------------------------------------------------------------------


def test_local_scoring_decides_a_clear_request(registry: AgentRegistry) -> None:
    decision = Router(registry).route(text=CLEAR)
    assert (decision.agent, decision.method) == ("backend-feature-developer", RouteMethod.LOCAL)
    assert decision.confidence == decision.candidates[0].score >= LOCAL_FLOOR
    assert "ahead of frontend-feature-developer" in decision.reason
    assert decision.ms > 0


def test_local_decision_never_calls_the_model(
    registry: AgentRegistry, classifier: ModelClassifier, fake: FakeAnthropic
) -> None:
    decision = Router(registry, classifier).route(text=CLEAR)
    assert decision.method is RouteMethod.LOCAL
    assert fake.message_requests == []


def test_a_tie_asks_with_both(make_roster: Callable[..., Roster]) -> None:
    description = "Reviews pull requests for security issues and injection risks."
    roster = make_roster(
        {
            "a.md": agent_text("security-reviewer", description),
            "b.md": agent_text("appsec-auditor", description),
            "c.md": agent_text("copywriter", "Writes marketing copy."),
        }
    )
    decision = Router(roster).route(text="check this PR for SQL injection risks")
    assert decision.method is RouteMethod.ASK and decision.agent is None
    assert decision.candidates[0].score == decision.candidates[1].score > 0
    assert {c.agent for c in decision.candidates} == {"security-reviewer", "appsec-auditor"}


def test_empty_roster(tmp_path: Path, classifier: ModelClassifier, fake: FakeAnthropic) -> None:
    decision = Router(AgentRegistry(tmp_path / "nothing"), classifier).route(text=CLEAR)
    assert (decision.agent, decision.method) == (None, RouteMethod.NONE)
    assert decision.coverage and "No agents" in decision.coverage
    assert fake.message_requests == []


# 5. Model ----------------------------------------------------------------------------------


def test_the_model_decides_when_local_scoring_is_unsure(
    registry: AgentRegistry, classifier: ModelClassifier, fake: FakeAnthropic
) -> None:
    choose(fake, "backend-feature-developer")
    decision = Router(registry, classifier).route(
        text=UNMATCHED, previous_turn="We sell shoes online."
    )
    assert (decision.agent, decision.method) == ("backend-feature-developer", RouteMethod.MODEL)
    assert decision.model_answer == "backend-feature-developer"
    body = fake.message_requests[0].body
    assert body["model"] == "claude-haiku-5-5"
    assert body["tool_choice"] == {"type": "tool", "name": TOOL_NAME}
    schema = body["tools"][0]["input_schema"]["properties"]["agent"]
    assert set(schema["enum"]) == {a.name for a in registry.roster()} | {"none"}
    assert not ("temperature" in body and "top_p" in body)
    system = body["system"][0]["text"]
    assert "<agent name='Backend Architect'>\nDesigns system architecture" in system
    assert "You design systems." in system  # the first paragraph of the body
    properties = body["tools"][0]["input_schema"]["properties"]
    assert next(iter(properties)) == "reasoning"  # reasoning comes before the label
    [message] = body["messages"]  # the current message and one previous turn, nothing more
    assert UNMATCHED in text_of(message) and "We sell shoes online." in text_of(message)


def test_the_model_sees_the_nearest_examples(
    registry: AgentRegistry, classifier: ModelClassifier, fake: FakeAnthropic
) -> None:
    choose(fake, "frontend-feature-developer")
    Router(registry, classifier).route(text=CLOSE)
    content = text_of(fake.message_requests[0].body["messages"][0])
    assert "Similar requests" in content
    assert "→ data-reporting-analyst" in content or "→ frontend-feature-developer" in content


def test_model_says_none(
    registry: AgentRegistry, classifier: ModelClassifier, fake: FakeAnthropic
) -> None:
    choose(fake, "none")
    decision = Router(registry, classifier).route(text="what's the weather in Lisbon?")
    assert (decision.agent, decision.method) == (None, RouteMethod.NONE)
    assert decision.coverage is not None
    assert "- frontend-feature-developer: Use this agent for user-facing" in decision.coverage


# 6. Ask ------------------------------------------------------------------------------------


def test_an_unsure_model_means_ask(
    registry: AgentRegistry, classifier: ModelClassifier, fake: FakeAnthropic
) -> None:
    choose(fake, "data-reporting-analyst", confident=False)
    decision = Router(registry, classifier).route(text=CLOSE)
    assert (decision.agent, decision.method) == (None, RouteMethod.ASK)
    assert [c.agent for c in decision.candidates][:2] == [
        "data-reporting-analyst",
        "frontend-feature-developer",
    ]


def test_an_unsure_none_with_nothing_matching_is_none(
    registry: AgentRegistry, classifier: ModelClassifier, fake: FakeAnthropic
) -> None:
    choose(fake, "none", confident=False)
    decision = Router(registry, classifier).route(text="is the cafeteria open?")
    assert (decision.agent, decision.method) == (None, RouteMethod.NONE)
    assert decision.confidence == 0.5 and decision.coverage


def test_model_disagreeing_with_a_close_local_score_asks(
    registry: AgentRegistry, classifier: ModelClassifier, fake: FakeAnthropic
) -> None:
    choose(fake, "Backend Architect")
    decision = Router(registry, classifier).route(text=CLOSE)
    assert decision.method is RouteMethod.ASK
    assert decision.candidates[0].agent == "Backend Architect"
    assert "frontend-feature-developer" in [c.agent for c in decision.candidates]


def test_model_agreeing_with_a_close_local_score_decides(
    registry: AgentRegistry, classifier: ModelClassifier, fake: FakeAnthropic
) -> None:
    choose(fake, "frontend-feature-developer")
    decision = Router(registry, classifier).route(text=CLOSE)
    assert (decision.agent, decision.method) == ("frontend-feature-developer", RouteMethod.MODEL)


@pytest.mark.parametrize("status", [500, 529, 401])
def test_a_model_failure_asks_instead_of_raising(
    registry: AgentRegistry, classifier: ModelClassifier, fake: FakeAnthropic, status: int
) -> None:
    fake.reply_error(status, "api_error", "boom")
    decision = Router(registry, classifier).route(text=CLOSE)
    assert decision.method is RouteMethod.ASK and decision.model_answer == "error"
    assert decision.candidates[0].agent == "frontend-feature-developer"


def test_a_model_answer_without_the_tool_asks(
    registry: AgentRegistry, classifier: ModelClassifier, fake: FakeAnthropic
) -> None:
    fake.reply_text("I think the frontend one.")
    decision = Router(registry, classifier).route(text=CLOSE)
    assert decision.method is RouteMethod.ASK


def test_local_only_never_calls_the_model(
    registry: AgentRegistry, classifier: ModelClassifier, fake: FakeAnthropic
) -> None:
    decision = Router(registry, classifier).route(text=CLOSE, local_only=True)
    assert (decision.agent, decision.method) == (None, RouteMethod.ASK)
    assert "unsure" in decision.reason
    assert fake.message_requests == []


# A roster of one agent ---------------------------------------------------------------------


@pytest.mark.parametrize("text", ["hi!", "what's the weather like today?", "thanks, bye"])
def test_one_agent_and_a_greeting_local_only(make_roster: Callable[..., Roster], text: str) -> None:
    roster = make_roster({"backend.md": BACKEND})
    decision = Router(roster).route(text=text)
    assert decision.agent is None and decision.method is RouteMethod.NONE
    assert decision.coverage and "backend-feature-developer" in decision.coverage


def test_one_agent_and_a_greeting_with_the_model(
    make_roster: Callable[..., Roster], classifier: ModelClassifier, fake: FakeAnthropic
) -> None:
    roster = make_roster({"backend.md": BACKEND})
    choose(fake, "none")
    decision = Router(roster, classifier).route(text="hello there, how are you?")
    assert (decision.agent, decision.method) == (None, RouteMethod.NONE)
    enum = fake.message_requests[0].body["tools"][0]["input_schema"]["properties"]["agent"]
    assert enum["enum"] == ["backend-feature-developer", "none"]


def test_one_agent_and_a_real_request_with_the_model(
    make_roster: Callable[..., Roster], classifier: ModelClassifier, fake: FakeAnthropic
) -> None:
    roster = make_roster({"backend.md": BACKEND})
    router = Router(roster, classifier)
    choose(fake, "backend-feature-developer")
    decision = router.route(text="We should send a weekly digest email to every customer")
    assert (decision.agent, decision.method) == ("backend-feature-developer", RouteMethod.MODEL)


# Other languages and long requests ---------------------------------------------------------


def test_a_request_in_another_language(
    registry: AgentRegistry, classifier: ModelClassifier, fake: FakeAnthropic
) -> None:
    spanish = "Necesitamos un endpoint para exportar las facturas de cada cliente"
    local = Router(registry).route(text=spanish)
    assert local.agent is None and local.method is RouteMethod.ASK
    assert local.candidates[0].agent == "backend-feature-developer"  # "endpoint" is shared
    choose(fake, "backend-feature-developer")
    decision = Router(registry, classifier).route(text=spanish)
    assert (decision.agent, decision.method) == ("backend-feature-developer", RouteMethod.MODEL)
    assert spanish in text_of(fake.message_requests[0].body["messages"][0])


def test_a_request_in_a_script_without_spaces(
    registry: AgentRegistry, classifier: ModelClassifier, fake: FakeAnthropic
) -> None:
    japanese = "設定ページにダークモードの切り替えを追加してください"
    choose(fake, "frontend-feature-developer")
    decision = Router(registry, classifier).route(text=japanese)
    assert (decision.agent, decision.method) == ("frontend-feature-developer", RouteMethod.MODEL)


def test_a_20000_character_request(
    registry: AgentRegistry, classifier: ModelClassifier, fake: FakeAnthropic
) -> None:
    log_lines = "\n".join(
        f"2025-01-01T00:00:{i % 60:02d} worker-{i} queue depth {i}" for i in range(600)
    )
    text = ("Something is off, here is the whole log:\n" + log_lines)[:20_000].ljust(20_000, ".")
    assert len(text) == 20_000
    choose(fake, "none")
    decision = Router(registry, classifier).route(text=text)
    assert decision.method is RouteMethod.NONE
    assert decision.ms < 5_000
    sent = text_of(fake.message_requests[0].body["messages"][0])
    assert len(sent) < QUERY_CHAR_LIMIT + 2_000  # the model gets the opening, not all of it
    local = Router(registry).route(text="add OAuth login. " + text)
    assert local.agent is None or local.agent == "backend-feature-developer"


# The decision record -----------------------------------------------------------------------


def test_a_decision_is_recorded_as_json(registry: AgentRegistry) -> None:
    decision = Router(registry).route(text=CLEAR)
    data = json.loads(json.dumps(decision.to_dict()))
    assert (data["agent"], data["method"]) == (decision.agent, "local")
    assert data["candidates"][0] == {
        "agent": decision.candidates[0].agent,
        "score": round(decision.candidates[0].score, 4),
    }
    assert data["reason"] == decision.reason and data["model_answer"] is None


def test_router_accepts_a_roster_or_a_callable(roster: Roster) -> None:
    assert Router(roster).route(text=CLEAR).agent == "backend-feature-developer"
    assert Router(lambda: roster).route(text=CLEAR).agent == "backend-feature-developer"
