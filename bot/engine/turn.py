"""One agent turn: the model call, and the loop through read-only tools until it asks,
delivers or answers."""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.accounting.tokens import TokenUsage
from bot.agents.model import AgentDefinition
from bot.config import Settings
from bot.engine.conversation_tools import (
    ASK_QUESTIONS,
    CONVERSATION_TOOLS,
    DELIVER,
    input_error,
    partial_text,
)
from bot.engine.prompt import estimate_tokens, system_prompt, thread_for_model, with_card
from bot.engine.requirement_card import CARD_TOOL, UPDATE_CARD, card_input_error
from bot.llm.client import Completion, LLMClient
from bot.llm.errors import ModelUnavailableError
from bot.llm.model_ids import resolve_model
from bot.llm.streaming import stream_completion
from bot.store.models import Message

log = logging.getLogger(__name__)

_TERMINAL = {ASK_QUESTIONS, DELIVER}
_IDLE_ROUNDS = 2
_WRAP_UP = (
    "You have used this turn's budget for reading. Do not call more reading tools: ask "
    "your clarifying questions or deliver the plan now, citing the files you read."
)


@dataclass(frozen=True)
class ToolOutput:
    """What a tool gave back: text for the model, and the sources it touched."""

    text: str
    is_error: bool = False
    sources: tuple[str, ...] = ()


class Toolbox(Protocol):
    """Extra tools an agent may use (the repository tools), chosen by its `tools:`."""

    def definitions(self, agent: AgentDefinition) -> list[dict[str, Any]]:
        """Tool schemas for this agent; empty when it may use none."""
        ...

    def run(self, agent: AgentDefinition, name: str, arguments: dict[str, Any]) -> ToolOutput:
        """Run a tool the agent may use; never raises (errors come back as `is_error`)."""
        ...

    def describe(self, name: str, arguments: dict[str, Any]) -> str:
        """What the tool is doing, for the thread's status line ("reading bot/app.py")."""
        ...


@dataclass(frozen=True)
class ToolStep:
    """A tool call seen from outside: which call, what it does, and how it went."""

    key: str
    title: str
    done: bool
    failed: bool = False


@dataclass
class TurnResult:
    """The model's final answer of the turn, with everything the turn cost and read."""

    completion: Completion
    usage: TokenUsage
    condensed: int
    sources: list[str] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    card: dict[str, Any] | None = None  # the last valid `update_requirement_card` input


def run_agent_turn(
    *,
    llm: LLMClient,
    settings: Settings,
    agent: AgentDefinition,
    requester_id: str | None,
    messages: Sequence[Message],
    card: dict[str, Any] | None = None,
    toolbox: Toolbox | None = None,
    on_activity: Callable[[str], None] | None = None,
    on_text: Callable[[str], None] | None = None,
    on_step: Callable[[ToolStep], None] | None = None,
) -> TurnResult:
    """Call the model, run the tools it asks for, and return once it asks, delivers or writes.

    The model sees the requirement card as it stands (`card`) and may revise it. With
    `on_text` the model's words are streamed to it as they come; `on_step` hears each tool
    call start and finish.
    """
    system = system_prompt(agent)
    model = resolve_model(agent.model, settings=settings)
    extra = toolbox.definitions(agent) if toolbox is not None else []
    tools = [*extra, CARD_TOOL, *CONVERSATION_TOOLS]
    budget = (
        settings.model_context_tokens
        - settings.model_max_tokens
        - estimate_tokens(system)
        - estimate_tokens(str(tools))
        - 1000
    )
    result: TurnResult | None = None
    for attempt in range(3):
        history, condensed = thread_for_model(
            messages, requester_id=requester_id, budget_tokens=budget
        )
        history = with_card(history, card)
        try:
            result = _loop(
                agent=agent,
                llm=llm,
                settings=settings,
                model=model,
                system=system,
                history=history,
                tools=tools,
                toolbox=toolbox if extra else None,
                on_activity=on_activity,
                on_text=on_text,
                on_step=on_step,
            )
            result.condensed = condensed
            return result
        except ModelUnavailableError as error:
            if not error.too_long or attempt == 2:
                raise
            budget //= 2  # our estimate was too generous for this text: condense harder
    raise AssertionError("unreachable")


def _loop(
    *,
    agent: AgentDefinition,
    llm: LLMClient,
    settings: Settings,
    model: str,
    system: str,
    history: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    toolbox: Toolbox | None,
    on_activity: Callable[[str], None] | None,
    on_text: Callable[[str], None] | None = None,
    on_step: Callable[[ToolStep], None] | None = None,
) -> TurnResult:
    usage = TokenUsage()
    sources: list[str] = []
    steps: list[dict[str, Any]] = []
    card: dict[str, Any] | None = None
    idle_rounds = 0
    working = list(history)
    offered = tools
    tool_choice: dict[str, Any] | None = None
    while True:
        if on_text is not None:
            completion = stream_completion(
                llm=llm,
                model=model,
                system=system,
                messages=working,
                tools=offered,
                tool_choice=tool_choice,
                on_text=on_text,
                tool_text=partial_text,
            )
        else:
            completion = llm.complete(
                model=model,
                system=system,
                messages=working,
                tools=offered,
                tool_choice=tool_choice,
            )
        usage += completion.usage
        calls = completion.tool_uses()
        malformed = {
            call.id: error for call in calls if (error := _input_error(call.name, call.input))
        }
        card = next(
            (
                call.input
                for call in reversed(calls)
                if call.name == UPDATE_CARD and call.id not in malformed
            ),
            card,
        )
        finished = any(call.name in _TERMINAL and call.id not in malformed for call in calls)
        carding = any(call.name == UPDATE_CARD for call in calls)
        reading = toolbox is not None and any(
            call.name not in _TERMINAL and call.name != UPDATE_CARD for call in calls
        )
        # Told to wrap up and still not done: the answer stands as it is.
        if finished or tool_choice is not None or not (malformed or reading or carding):
            return TurnResult(
                completion=completion,
                usage=usage,
                condensed=0,
                sources=sources,
                steps=steps,
                card=card,
            )
        results = []
        for call in calls:
            arguments = call.input if isinstance(call.input, dict) else {}
            if call.id in malformed:
                output = ToolOutput(text=malformed[call.id], is_error=True)
            elif call.name == UPDATE_CARD:
                results.append(_card_saved(call.id))
                continue
            elif toolbox is None:
                results.append(_refused(call.id, f"{call.name} is not available."))
                continue
            elif len(steps) >= settings.agent_max_tool_steps:
                results.append(_refused(call.id, f"Not run: {_WRAP_UP}"))
                continue
            else:
                described = toolbox.describe(call.name, arguments)
                if on_activity is not None:
                    on_activity(described)
                if on_step is not None:
                    on_step(ToolStep(key=call.id, title=described, done=False))
                output = toolbox.run(agent, call.name, arguments)
                if on_step is not None:
                    on_step(
                        ToolStep(key=call.id, title=described, done=True, failed=output.is_error)
                    )
                sources.extend(s for s in output.sources if s not in sources)
            steps.append({"tool": call.name, "input": arguments, "error": output.is_error})
            results.append(
                {
                    "type": "tool_result",
                    "tool_use_id": call.id,
                    "content": output.text or "(empty)",
                    "is_error": output.is_error,
                }
            )
        working.append(
            {
                "role": "assistant",
                "content": [block.model_dump(exclude_none=True) for block in completion.content],
            }
        )
        # Rounds that read nothing (a card saved, a malformed call sent back) get a second
        # chance, not an endless one.
        idle_rounds += not reading
        out_of_budget = (
            len(steps) >= settings.agent_max_tool_steps
            or usage.total_input >= settings.agent_turn_input_token_budget
            or idle_rounds >= _IDLE_ROUNDS
        )
        if out_of_budget:
            results.append({"type": "text", "text": _WRAP_UP})
            offered = CONVERSATION_TOOLS  # only asking or delivering is left to choose from
            tool_choice = {"type": "any"}
        working.append({"role": "user", "content": results})


def _input_error(name: str, data: Any) -> str | None:
    """Why a conversation tool's input (a question, the plan, the card) does not fit."""
    if name == UPDATE_CARD:
        return card_input_error(data)
    return input_error(name=name, data=data) if name in _TERMINAL else None


def _card_saved(tool_use_id: str) -> dict[str, Any]:
    return {
        "type": "tool_result",
        "tool_use_id": tool_use_id,
        "content": "The card is saved; it is shown when this turn ends. Now ask or deliver.",
    }


def _refused(tool_use_id: str, reason: str) -> dict[str, Any]:
    """The answer to a tool call that was not run."""
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": reason, "is_error": True}
