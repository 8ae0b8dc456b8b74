"""Ask the small fast model which agent a request belongs to, with a forced tool call.

Follows Anthropic's guidance for classification: a short list of candidates (the local
step's best, not the whole roster) each described fully enough to tell apart (description
and the first paragraph of the system prompt), few-shot examples retrieved by similarity
(the team's confirmed routes and the agents' own `<example>` requests), and a reasoning
field the model fills in before it names the label. Calls go through `bot.llm.LLMClient`
(bounded retries, prompt caching, token accounting).
"""

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.agents.description import prose
from bot.agents.model import AgentDefinition
from bot.llm.errors import ModelUnavailableError
from bot.routing.local import ExampleMatch
from bot.routing.terms import QUERY_CHAR_LIMIT

if TYPE_CHECKING:
    from bot.llm.client import LLMClient  # loads the SDK: only where a model is called
from bot.accounting.tokens import TokenUsage

log = logging.getLogger(__name__)

TOOL_NAME = "choose_agent"
NO_AGENT = "none"
DESCRIPTION_LIMIT = 700  # most characters of one candidate's description
BODY_PARAGRAPH_LIMIT = 500  # most characters of the first paragraph of its system prompt
PREVIOUS_TURN_LIMIT = 1000
EXAMPLE_LIMIT = 300  # most characters of one few-shot example request
MAX_TOKENS = 400

_SYSTEM = """\
You route requests sent to a product team's help desk in Slack to the one agent that
should handle them. The candidates below are the agents most likely to fit; each is
described by its own definition.

First think briefly in "reasoning": what the request asks for, and which candidates could
handle it and why one fits better. Then give "agent". Answer "none" when the message is not
a request any candidate handles: a greeting, small talk, thanks, or a topic outside every
description. Set "confident" to true only when one candidate clearly fits; set it to false
when two or more fit about equally well or you are guessing. The request may be in any
language."""


@dataclass(frozen=True)
class ModelChoice:
    """The model's answer: an agent name, or None for `none` and for failures."""

    agent: str | None
    confident: bool
    reason: str = ""
    error: str | None = None
    ms: float = 0.0
    usage: TokenUsage | None = field(default=None, compare=False)

    @property
    def failed(self) -> bool:
        """True when the model could not be asked or gave no usable answer."""
        return self.error is not None


class ModelClassifier:
    """Chooses among candidate agents with one forced tool call (`reasoning`, `agent`, …)."""

    def __init__(self, *, llm: "LLMClient", model: str) -> None:
        self.llm = llm
        self.model = model

    def choose(
        self,
        *,
        text: str,
        previous_turn: str | None,
        candidates: Sequence[AgentDefinition],
        examples: Sequence[ExampleMatch],
    ) -> ModelChoice:
        """The model's pick among `candidates`; never raises (failures come back as `error`)."""
        started = time.perf_counter()
        agents = list(candidates)
        if not agents:
            return ModelChoice(agent=None, confident=True, reason="no agents are loaded")
        try:
            completion = self.llm.complete(
                model=self.model,
                **request_arguments(
                    text=text, previous_turn=previous_turn, candidates=agents, examples=examples
                ),
            )
        except ModelUnavailableError as error:
            log.warning("routing model call failed: %s", error.reason)
            return _failure(f"the model could not be asked ({error.reason})", started)
        except Exception as error:  # routing must go on whatever the client raises
            log.exception("routing model call failed unexpectedly")
            return _failure(f"the model call failed ({type(error).__name__})", started)
        choice = _read_answer(completion.content, agents, started)
        return ModelChoice(
            agent=choice.agent,
            confident=choice.confident,
            reason=choice.reason,
            error=choice.error,
            ms=choice.ms,
            usage=completion.usage,
        )


def request_arguments(
    *,
    text: str,
    previous_turn: str | None,
    candidates: Sequence[AgentDefinition],
    examples: Sequence[ExampleMatch],
) -> dict[str, Any]:
    """The arguments of `LLMClient.complete` besides the model: system, message, tool.

    The system prompt holds the instructions and the candidates; the message holds the
    few-shot examples, the previous turn and the request (cut to its opening). No sampling
    parameters: SDK 2.x has none for this, and the API refuses `temperature` with `top_p`.
    """
    names = [agent.name for agent in candidates]
    described = "\n\n".join(describe(agent) for agent in candidates)
    parts: list[str] = []
    if examples:
        shown = "\n".join(
            f'- "{_cut(match.request, EXAMPLE_LIMIT)}" → {match.agent}' for match in examples
        )
        parts.append(f"Similar requests and the agent that took them:\n{shown}")
    if previous_turn:
        parts.append(f"Previous message in the thread:\n{previous_turn[:PREVIOUS_TURN_LIMIT]}")
    parts.append(f"The request to route:\n{text[:QUERY_CHAR_LIMIT]}")
    tool = {
        "name": TOOL_NAME,
        "description": "Give the request to one candidate agent, or to none of them.",
        "input_schema": {
            "type": "object",
            "properties": {
                "reasoning": {
                    "type": "string",
                    "description": "Two or three sentences, written before choosing.",
                },
                "agent": {"type": "string", "enum": [*names, NO_AGENT]},
                "confident": {"type": "boolean"},
            },
            "required": ["reasoning", "agent", "confident"],
        },
    }
    return {
        "system": f"{_SYSTEM}\n\n<candidates>\n{described}\n</candidates>",
        "messages": [{"role": "user", "content": "\n\n".join(parts)}],
        "tools": [tool],
        "tool_choice": {"type": "tool", "name": TOOL_NAME},
        "max_tokens": MAX_TOKENS,
    }


def describe(agent: AgentDefinition) -> str:
    """A candidate for the model: name, description, first paragraph of its system prompt."""
    lines = [f"<agent name={agent.name!r}>", _cut(prose(agent.description), DESCRIPTION_LIMIT)]
    paragraph = first_paragraph(agent.body)
    if paragraph:
        lines.append(_cut(paragraph, BODY_PARAGRAPH_LIMIT))
    lines.append("</agent>")
    return "\n".join(lines)


def first_paragraph(body: str) -> str:
    """The first paragraph of prose in a system prompt, skipping headings."""
    for block in body.strip().split("\n\n"):
        lines = [line for line in block.splitlines() if not line.lstrip().startswith("#")]
        text = " ".join(" ".join(lines).split())
        if text:
            return text
    return ""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _failure(error: str, started: float) -> ModelChoice:
    return ModelChoice(agent=None, confident=False, error=error, ms=_since(started))


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _read_answer(
    content: Sequence[Any], agents: list[AgentDefinition], started: float
) -> ModelChoice:
    block = next(
        (b for b in content if getattr(b, "type", None) == "tool_use" and b.name == TOOL_NAME),
        None,
    )
    answer = block.input if block is not None else None
    if not isinstance(answer, dict) or not isinstance(answer.get("agent"), str):
        return _failure("the model did not call the routing tool", started)
    name = answer["agent"].strip()
    confident = answer.get("confident") is True
    reason = str(answer.get("reasoning") or answer.get("reason") or "").strip()
    if name.casefold() == NO_AGENT:
        return ModelChoice(agent=None, confident=confident, reason=reason, ms=_since(started))
    agent = next((a for a in agents if a.name == name), None) or next(
        (a for a in agents if a.name.casefold() == name.casefold()), None
    )
    if agent is None:
        return _failure(f"the model answered an agent not offered: {name!r}", started)
    return ModelChoice(agent=agent.name, confident=confident, reason=reason, ms=_since(started))
