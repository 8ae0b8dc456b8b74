"""What the model is told: the platform preamble, the agent's prompt, and the thread so far."""

import json
from collections.abc import Sequence
from typing import Any

from bot.agents.model import AgentDefinition
from bot.store.models import Message, MessageKind, MessageRole

PLATFORM_PREAMBLE = """\
You are working in a team chat thread for agentdesk. People on a product team bring you \
requests there; several teammates may answer in the same thread, and each of their messages \
starts with the writer's name in square brackets.

How to work the thread:
- Before designing, make sure the requirement is clear. If it is not, call \
`ask_clarifying_questions` with a few focused questions (usually two to five), numbered by \
the tool, each with short choices when the answer is a pick. Ask only what changes the design; \
state sensible defaults you would assume.
- Do not ask the same thing twice. After one or two rounds, or when people say to go ahead, \
proceed with stated assumptions.
- When the requirement is clear, call `deliver_result` with a title, a short summary for the \
thread, and the full design and implementation plan in Markdown.
- You can also answer in plain text (for a quick answer or a remark); the thread then waits \
for the people in it.
- Keep the thread's requirement card with `update_requirement_card` in every turn, before you \
ask or deliver: the problem in the requester's terms, acceptance criteria, what is out of \
scope, the open questions (with whom each waits on) and the answered ones, the paths the \
change likely touches, risks and a size. People sign the card off before anything is built, \
and any change after a sign-off asks for it again.
- Write GitHub-flavoured Markdown: short paragraphs, lists, fenced code blocks. Never use \
@here, @channel or @everyone, and never mention people by user ID.
- You cannot run code or change anything; you write plans people act on."""

_MODEL_KINDS = {MessageKind.TEXT, MessageKind.QUESTIONS, MessageKind.DELIVERABLE}
# A rough, safe estimate: tokens are at least ~3.5 characters of English or code.
_CHARS_PER_TOKEN = 3.5
_MAX_MESSAGE_CHARS = 60_000
_EXCERPT_CHARS = 300


def system_prompt(agent: AgentDefinition) -> str:
    """Our preamble, then the agent file's body."""
    return f"{PLATFORM_PREAMBLE}\n\n---\n\n{agent.body}"


def estimate_tokens(text: str) -> int:
    """An upper-bound-ish token estimate, used only to keep requests inside the context."""
    return int(len(text) / _CHARS_PER_TOKEN) + 1


def _speaker(message: Message, requester_id: str | None) -> str:
    name = message.author_name or message.author_id or "someone"
    if requester_id and message.author_id == requester_id:
        return f"{name} (requester)"
    return name


def _render(message: Message, requester_id: str | None) -> str:
    text = message.text
    if len(text) > _MAX_MESSAGE_CHARS:
        cut = len(text) - _MAX_MESSAGE_CHARS
        text = text[:_MAX_MESSAGE_CHARS] + f"\n[… {cut} more characters not shown]"
    if message.role is MessageRole.USER:
        return f"[{_speaker(message, requester_id)}] {text}"
    return text


def thread_for_model(
    messages: Sequence[Message], *, requester_id: str | None, budget_tokens: int
) -> tuple[list[dict[str, Any]], int]:
    """The thread as Messages API turns (alternating, starting with the user), within a budget.

    When the thread is too long, the first request and the newest messages are kept whole and
    the ones between are condensed into short excerpts. Returns the turns and how many
    messages were condensed.
    """
    usable = [m for m in messages if m.kind in _MODEL_KINDS]
    rendered = [(m.role, _render(m, requester_id)) for m in usable]
    condensed = 0
    if sum(estimate_tokens(text) for _, text in rendered) > budget_tokens and len(rendered) > 2:
        rendered, condensed = _condense(rendered, budget_tokens)
    return _alternate(rendered), condensed


def with_card(turns: list[dict[str, Any]], card: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The thread's turns with the current requirement card after the newest message, so
    the model revises the card as it stands."""
    if not card or not turns:
        return turns
    note = (
        "[The requirement card as it stands (revise it with update_requirement_card when "
        f"the requirement changed): {json.dumps(card, ensure_ascii=False)}]"
    )
    last = turns[-1]
    return [*turns[:-1], {**last, "content": f"{last['content']}\n\n{note}"}]


def _condense(
    rendered: list[tuple[MessageRole, str]], budget_tokens: int
) -> tuple[list[tuple[MessageRole, str]], int]:
    first, rest = rendered[0], rendered[1:]
    remaining = budget_tokens - estimate_tokens(first[1])
    kept: list[tuple[MessageRole, str]] = []
    for role, text in reversed(rest):
        cost = estimate_tokens(text)
        if cost > remaining - 2000 and kept:  # leave room for the condensed note
            break
        kept.insert(0, (role, text))
        remaining -= cost
    dropped = rest[: len(rest) - len(kept)]
    if not dropped:
        return rendered, 0
    excerpts = "\n".join(
        f"- {'agent' if role is MessageRole.ASSISTANT else 'person'}: "
        f"{' '.join(text.split())[:_EXCERPT_CHARS]}"
        for role, text in dropped
    )
    note = (
        f"[{len(dropped)} earlier messages of this thread are condensed to excerpts to fit "
        f"the context]\n{excerpts}"
    )
    while estimate_tokens(note) > max(remaining, 500):
        note = note[: int(len(note) * 0.7)] + "\n[…]"
    return [first, (MessageRole.USER, note), *kept], len(dropped)


def _alternate(rendered: list[tuple[MessageRole, str]]) -> list[dict[str, Any]]:
    """Merge neighbours of the same role and make sure the first turn is the user's."""
    turns: list[dict[str, Any]] = []
    for role, text in rendered:
        if turns and turns[-1]["role"] == role.value:
            turns[-1]["content"] += "\n\n" + text
        else:
            turns.append({"role": role.value, "content": text})
    if turns and turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": "[the thread starts with the agent]"})
    if turns and turns[-1]["role"] != "user":
        turns.append({"role": "user", "content": "[no new message; continue]"})
    return turns
