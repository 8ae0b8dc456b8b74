"""Ask the small fast model which agent a request belongs to, with a forced tool call."""

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.agents.model import AgentDefinition
from bot.routing.local import ExampleMatch
from bot.routing.text import QUERY_CHAR_LIMIT, prose

if TYPE_CHECKING:
    import anthropic  # imported where it is used: it takes about a second to load

log = logging.getLogger(__name__)

TOOL_NAME = "choose_agent"
NO_AGENT = "none"
DESCRIPTION_LIMIT = 400  # most characters of one agent's description shown to the model
ROSTER_BUDGET = 60_000  # characters for the whole roster; big rosters get shorter descriptions
PREVIOUS_TURN_LIMIT = 1000

_SYSTEM = """\
You route requests sent to a team's help desk to the one agent that should handle them.
Pick the agent whose description fits the request best. Answer "none" when the message is
not a request any agent handles: a greeting, small talk, thanks, or a topic outside every
description. Set "confident" to false when two or more agents fit about equally well or
when you are guessing. The request may be in any language.

The agents:
{roster}"""


@dataclass(frozen=True)
class ModelChoice:
    """The model's answer: an agent name, or None for `none` and for failures."""

    agent: str | None
    confident: bool
    reason: str = ""
    error: str | None = None
    ms: float = 0.0

    @property
    def failed(self) -> bool:
        """True when the model could not be asked or gave no usable answer."""
        return self.error is not None


class ModelClassifier:
    """Chooses an agent with one forced tool call whose answer is an agent name or `none`."""

    def __init__(
        self, client: "anthropic.Anthropic", model: str, *, timeout_seconds: float = 20.0
    ) -> None:
        self.client = client
        self.model = model
        self.timeout_seconds = timeout_seconds

    def choose(
        self,
        *,
        text: str,
        previous_turn: str | None,
        roster: Iterable[AgentDefinition],
        nearest_examples: Sequence[ExampleMatch],
    ) -> ModelChoice:
        """The model's pick for this request; never raises (failures come back as `error`)."""
        import anthropic  # already loaded: the client was made with it

        started = time.perf_counter()
        agents = list(roster)
        if not agents:
            return ModelChoice(agent=None, confident=True, reason="no agents are loaded")
        try:
            arguments = self.request_arguments(text, previous_turn, agents, nearest_examples)
            response = self.client.messages.create(**arguments)
        except anthropic.APIError as error:
            log.warning("routing model call failed: %s", error)
            return _failure(f"the model could not be asked ({type(error).__name__})", started)
        except Exception as error:  # routing must go on whatever the client raises
            log.exception("routing model call failed unexpectedly")
            return _failure(f"the model call failed ({type(error).__name__})", started)
        return _read_answer(response, agents, started)

    def request_arguments(
        self,
        text: str,
        previous_turn: str | None,
        agents: list[AgentDefinition],
        nearest_examples: Sequence[ExampleMatch],
    ) -> dict[str, Any]:
        """Arguments of `messages.create`: the roster as system prompt, one message, one tool.

        No sampling parameters: SDK 2.x has no `temperature`/`top_p` arguments, and the API
        refuses the two together. The request text is cut to its opening.
        """
        names = [agent.name for agent in agents]
        limit = max(80, min(DESCRIPTION_LIMIT, ROSTER_BUDGET // len(agents)))
        roster = "\n".join(f"- {agent.name}: {_describe(agent, limit)}" for agent in agents)
        parts: list[str] = []
        if nearest_examples:
            shown = "\n".join(f'- "{m.request}" → {m.agent}' for m in nearest_examples)
            parts.append(f"Similar requests from the agents' descriptions:\n{shown}")
        if previous_turn:
            parts.append(f"Previous message in the thread:\n{previous_turn[:PREVIOUS_TURN_LIMIT]}")
        parts.append(f"The request to route:\n{text[:QUERY_CHAR_LIMIT]}")
        tool = {
            "name": TOOL_NAME,
            "description": "Give the request to one agent, or to none of them.",
            "input_schema": {
                "type": "object",
                "properties": {
                    "agent": {"type": "string", "enum": [*names, NO_AGENT]},
                    "confident": {"type": "boolean"},
                    "reason": {"type": "string", "description": "One short sentence."},
                },
                "required": ["agent", "confident"],
            },
        }
        return {
            "model": self.model,
            "max_tokens": 200,
            "system": [
                {
                    "type": "text",
                    "text": _SYSTEM.format(roster=roster),
                    "cache_control": {"type": "ephemeral"},  # the same for every request
                }
            ],
            "messages": [{"role": "user", "content": "\n\n".join(parts)}],
            "tools": [tool],
            "tool_choice": {"type": "tool", "name": TOOL_NAME},
            "timeout": self.timeout_seconds,
        }


def _describe(agent: AgentDefinition, limit: int) -> str:
    text = prose(agent.description)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _failure(error: str, started: float) -> ModelChoice:
    return ModelChoice(agent=None, confident=False, error=error, ms=_since(started))


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _read_answer(response: Any, agents: list[AgentDefinition], started: float) -> ModelChoice:
    block = next(
        (b for b in response.content if b.type == "tool_use" and b.name == TOOL_NAME), None
    )
    answer = block.input if block is not None else None
    if not isinstance(answer, dict) or not isinstance(answer.get("agent"), str):
        return _failure("the model did not call the routing tool", started)
    name = answer["agent"].strip()
    confident = answer.get("confident") is True
    reason = str(answer.get("reason") or "").strip()
    if name.casefold() == NO_AGENT:
        return ModelChoice(agent=None, confident=confident, reason=reason, ms=_since(started))
    agent = next((a for a in agents if a.name == name), None) or next(
        (a for a in agents if a.name.casefold() == name.casefold()), None
    )
    if agent is None:
        return _failure(f"the model answered an unknown agent {name!r}", started)
    return ModelChoice(agent=agent.name, confident=confident, reason=reason, ms=_since(started))
