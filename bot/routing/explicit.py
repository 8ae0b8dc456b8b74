"""Requests that name their agent: `NAME: …`, `--agent NAME …`, or a button's value."""

import re
from collections.abc import Iterable
from typing import Protocol

from rapidfuzz import fuzz, process

from bot.agents.model import AgentDefinition

# A typo still matches ("backend-feature-develper"), a different word does not.
NAME_MATCH_CUTOFF = 88.0
# When two names score within this many points of each other, the name is ambiguous.
AMBIGUITY_GAP = 4.0

_AGENT_OPTION = re.compile(
    r"(?:^|\s)--agent(?:=|\s+)(?:\"([^\"]+)\"|'([^']+)'|(\S+))", re.IGNORECASE
)
# `NAME: rest` or `NAME, rest` with a name of at most six words at the very start.
_LABELLED_PREFIX = re.compile(r"^\s*@?([^\s:,][^:,\n]{0,80}?)\s*[:,]\s*(.*)$", re.DOTALL)
_SEPARATORS = re.compile(r"[-_\s]+")
_LEADING_MENTION = re.compile(r"^\s*@")


def parse_explicit(
    text: str, roster: Iterable[AgentDefinition]
) -> tuple[AgentDefinition | None, str]:
    """The agent a request names, and the request without the naming part.

    Recognised: `--agent NAME` anywhere (NAME may be quoted); a leading `NAME:` or `NAME,`
    (typos tolerated); a leading `NAME ` without punctuation only when NAME is written out
    exactly and has several words (`backend-feature-developer add OAuth`), so a sentence that
    starts with a common word ("Review the login page") never counts. Returns `(None, text)`
    when nothing names a loaded agent unambiguously.
    """
    agents = list(roster)
    if not agents:
        return None, text
    name, rest = agent_option(text)
    if name is not None:
        agent = match_agent_name(name, agents)
        if agent is not None:
            return agent, rest
    labelled = _LABELLED_PREFIX.match(text)
    if labelled and len(labelled.group(1).split()) <= 6:
        agent = match_agent_name(labelled.group(1), agents, allow_prefix=False)
        if agent is not None:
            return agent, labelled.group(2).strip()
    return _bare_prefix(text, agents)


def agent_option(text: str) -> tuple[str | None, str]:
    """The NAME of an `--agent NAME` (or `--agent=NAME`, quoted or not) in the text, and the
    text without it; `(None, text)` when there is none."""
    option = _AGENT_OPTION.search(text)
    if option is None:
        return None, text
    name = next(group for group in option.groups() if group)
    return name, f"{text[: option.start()]} {text[option.end() :]}".strip()


def match_agent_name(
    name: str, roster: Iterable[AgentDefinition], *, allow_prefix: bool = True
) -> AgentDefinition | None:
    """The loaded agent a typed or clicked name means, or None when none or several fit.

    Exact matches ignore case, `@`, and the difference between `-`, `_` and spaces; then
    (with `allow_prefix`) the one agent whose name starts with the given words (`backend` →
    `backend-developer`); then a close spelling (rapidfuzz ratio ≥ `NAME_MATCH_CUTOFF`)
    clearly ahead of the next one.
    """
    agents = list(roster)
    wanted = normalise_name(name)
    if not wanted or not agents:
        return None
    keyed = {normalise_name(agent.name): agent for agent in reversed(agents)}
    if wanted in keyed:
        return keyed[wanted]
    starting = [agent for key, agent in keyed.items() if key.startswith(wanted + " ")]
    if allow_prefix and len(starting) == 1 and len(wanted) >= 4:
        return starting[0]
    matches = process.extract(
        wanted, list(keyed), scorer=fuzz.ratio, score_cutoff=NAME_MATCH_CUTOFF, limit=2
    )
    if not matches:
        return None
    if len(matches) == 2 and matches[0][1] - matches[1][1] < AMBIGUITY_GAP:
        return None
    return keyed[matches[0][0]]


def normalise_name(name: str) -> str:
    """Case-folded words of a name: `Backend_Architect` and `backend-architect` compare equal."""
    return _SEPARATORS.sub(" ", _LEADING_MENTION.sub("", name)).strip().casefold()


def _bare_prefix(text: str, agents: list[AgentDefinition]) -> tuple[AgentDefinition | None, str]:
    """`backend-feature-developer add OAuth`: a multi-word name, written exactly, first."""
    stripped = text.lstrip().removeprefix("@")
    words = stripped.split()
    best: tuple[int, AgentDefinition] | None = None
    for agent in agents:
        wanted = normalise_name(agent.name).split()
        if len(wanted) < 2:
            continue
        for count in range(1, min(len(words), len(wanted)) + 1):
            if normalise_name(" ".join(words[:count])).split() == wanted:
                if best is None or count > best[0]:
                    best = (count, agent)
                break
    if best is None:
        return None, text
    count, agent = best
    rest = stripped.split(maxsplit=count)
    return agent, rest[count].strip() if len(rest) > count else ""


def named_agent(text: str, roster: Iterable[AgentDefinition]) -> str | None:
    """The name of the loaded agent a message names (`NAME: take over`), or None."""
    agent, _ = parse_explicit(text, roster)
    return agent.name if agent is not None else None


class _HasRoster(Protocol):
    def roster(self) -> Iterable[AgentDefinition]: ...


def named_in_thread(text: str, *, owner: str | None, registry: _HasRoster) -> str | None:
    """The agent a message in a thread that already has one names (`NAME: take over`)."""
    return named_agent(text, registry.roster()) if owner else None
