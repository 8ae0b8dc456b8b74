"""Parse the `<example>` blocks that Claude Code agent descriptions use to show when to call them."""

import re

from bot.agents.model import AgentExample, ExampleTurn

_EXAMPLE = re.compile(r"<example>(.*?)</example>", re.DOTALL | re.IGNORECASE)
_COMMENTARY = re.compile(r"<commentary>(.*?)</commentary>", re.DOTALL | re.IGNORECASE)
# A speaker label starts a line or follows whitespace, a tag or a sentence end:
# "user: 'add OAuth'". A named person opening a line with a quote ("Daisy: '…'") is a user.
_LABEL = re.compile(
    r"(?:^|(?<=[\s>.!?\"')]))(?:(?i:(context|user|human|assistant|claude))\s*:"
    r"|^[ \t]*([A-Z][\w-]*)\s*:(?=\s*[\"'“‘]))",
    re.MULTILINE,
)
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’"}
_ROLES = {"user": "user", "human": "user", "assistant": "assistant", "claude": "assistant"}


def parse_examples(description: str) -> tuple[AgentExample, ...]:
    """Every `<example>` block in a description, with its context, turns and commentary."""
    text = description.replace("\\n", "\n") if "\\n" in description else description
    return tuple(_parse_block(match.group(1)) for match in _EXAMPLE.finditer(text))


def _parse_block(block: str) -> AgentExample:
    commentary = " ".join(_squash(m.group(1)) for m in _COMMENTARY.finditer(block))
    dialogue = _COMMENTARY.sub("\n", block)
    labels = list(_LABEL.finditer(dialogue))
    context = ""
    turns: list[ExampleTurn] = []
    for index, label in enumerate(labels):
        end = labels[index + 1].start() if index + 1 < len(labels) else len(dialogue)
        value = _unquote(_squash(dialogue[label.end() : end]))
        speaker = (label.group(1) or "user").lower()
        if speaker == "context":
            context = context or value
        elif value:
            turns.append(ExampleTurn(role=_ROLES[speaker], text=value))
    return AgentExample(context=context, turns=tuple(turns), commentary=commentary)


def _squash(text: str) -> str:
    return " ".join(text.split())


def _unquote(text: str) -> str:
    text = text.strip().rstrip(",")
    closing = _QUOTES.get(text[:1])
    if closing and len(text) >= 2 and text.endswith(closing):
        return text[1:-1].strip()
    return text
