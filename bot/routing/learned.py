"""The team's confirmed routes: requests a person gave to an agent, learned from next time.

The router reads them through `LearnedExamples`; `bot/store/learned_examples.py` keeps them
in the database. Nothing here knows about SQL.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class LabelledExample:
    """A request and the agent a person confirmed for it (button, `--agent`, hand-over)."""

    text: str
    agent: str
    source: str = "confirmed"


@runtime_checkable
class LearnedExamples(Protocol):
    """Where the router finds a workspace's confirmed routes."""

    def examples(self, *, team_id: str) -> Sequence[LabelledExample]: ...


class FixedExamples:
    """The same confirmed routes for every workspace (the bench, tests, the CLI)."""

    def __init__(self, examples: Sequence[LabelledExample] = ()) -> None:
        self._examples = tuple(examples)

    def examples(self, *, team_id: str) -> Sequence[LabelledExample]:
        """All of them, whichever workspace asks."""
        return self._examples
