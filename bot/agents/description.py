"""An agent's description as prose, and its first sentence: the one summary everyone shows."""

import re

from bot.agents.model import AgentDefinition

_EXAMPLE_BLOCK = re.compile(r"<example>.*?(?:</example>|$)", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"</?\w+>")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s|\n")


def prose(description: str) -> str:
    """A description without its `<example>` blocks and tags, with literal `\\n` unescaped."""
    text = description.replace("\\n", "\n")
    return " ".join(_TAG.sub(" ", _EXAMPLE_BLOCK.sub(" ", text)).split())


def summary(agent: AgentDefinition, *, limit: int = 160) -> str:
    """The first sentence of an agent's description, shortened to `limit` characters."""
    text = prose(agent.description)
    first = _SENTENCE_END.split(text, maxsplit=1)[0].strip() if text else ""
    if len(first) > limit:
        first = first[: limit - 1].rsplit(" ", 1)[0] + "…"
    return first or agent.name
