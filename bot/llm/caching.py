"""Prompt-cache markers, so later turns of a thread read the stable prefix from the cache."""

from typing import Any

EPHEMERAL: dict[str, str] = {"type": "ephemeral"}
# The API allows four markers: system, tools, and the last two user turns.
_MESSAGE_MARKERS = 2


def cached_system(text: str) -> list[dict[str, Any]]:
    """The system prompt as one text block marked for caching."""
    return [{"type": "text", "text": text, "cache_control": EPHEMERAL}]


def cached_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tools with a marker on the last one (it caches all of them)."""
    if not tools:
        return tools
    return [*tools[:-1], {**tools[-1], "cache_control": EPHEMERAL}]


def cached_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mark the last block of the last two user messages.

    The newest marker writes this turn's prefix; the one before it matches what the previous
    turn wrote, so the thread so far is read from the cache.
    """
    marked = [dict(message) for message in messages]
    user_indexes = [i for i, m in enumerate(marked) if m["role"] == "user"][-_MESSAGE_MARKERS:]
    for index in user_indexes:
        content = marked[index]["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
        if not blocks:
            continue
        blocks[-1] = {**blocks[-1], "cache_control": EPHEMERAL}
        marked[index] = {**marked[index], "content": blocks}
    return marked
