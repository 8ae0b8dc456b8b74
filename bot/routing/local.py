"""Local scoring: how well a request matches each agent, in about a millisecond.

Each agent is scored over four BM25 indexes (the `bm25s` library), each normalised to 0..1 by
the best score the request could get there (the summed IDF of its terms, so words no agent
uses count against it), then averaged with `FIELD_WEIGHTS`:

- `name`: the agent's name, split into words;
- `prose`: the description without its `<example>` blocks;
- `examples`: everything in the agent's `<example>` blocks (context, dialogue, commentary);
- `nearest`: each `<example>` block on its own; an agent scores its best-matching block.

Measured with `bench/routing_eval.py` against plain BM25 over name and description, and
against the same index without the per-example neighbours; see the figures in `router.py`.
"""

import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from math import log

import bm25s
import numpy as np
import numpy.typing as npt

from bot.agents.description import prose
from bot.agents.model import AgentDefinition, AgentExample
from bot.agents.registry import Roster
from bot.routing.decision import Candidate
from bot.routing.text import name_words, query_terms, terms

FIELD_WEIGHTS = {"name": 0.3, "prose": 1.0, "examples": 1.0, "nearest": 1.0}
BM25_K1 = 1.2
BM25_B = 0.75

_Scores = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ExampleMatch:
    """An example request from an agent's description, and how well it matches."""

    agent: str
    request: str
    score: float


class _Field:
    """One BM25 index over one token list per document, scoring queries on a 0..1 scale."""

    def __init__(self, documents: Sequence[list[str]]) -> None:
        self.size = len(documents)
        self.document_frequency = Counter(term for doc in documents for term in set(doc))
        self.bm25: bm25s.BM25 | None = None
        if self.document_frequency:
            self.bm25 = bm25s.BM25(k1=BM25_K1, b=BM25_B, method="lucene")
            self.bm25.index(list(documents), show_progress=False)

    def idf(self, term: str) -> float:
        """BM25's (Lucene) inverse document frequency; highest for terms no document has."""
        frequency = self.document_frequency.get(term, 0)
        return log(1 + (self.size - frequency + 0.5) / (frequency + 0.5))

    def scores(self, query: Sequence[str]) -> _Scores:
        """Each document's BM25 score divided by the most the query could score."""
        result = np.zeros(self.size, dtype=np.float64)
        known = [term for term in query if term in self.document_frequency]
        if self.bm25 is None or not known:
            return result
        upper = sum(self.idf(term) for term in query)
        raw = self.bm25.get_scores(known)
        result[:] = np.asarray(raw, dtype=np.float64) / upper
        return result


class LocalIndex:
    """Scores requests against a fixed set of agents; build once per roster version."""

    def __init__(self, agents: Iterable[AgentDefinition]) -> None:
        unique: dict[str, AgentDefinition] = {}
        for agent in agents:
            unique.setdefault(agent.name, agent)
        self.agents: tuple[AgentDefinition, ...] = tuple(unique.values())
        self.names: tuple[str, ...] = tuple(unique)
        owners: list[int] = []
        self._examples: list[tuple[str, str]] = []  # (agent, request) per example document
        example_docs: list[list[str]] = []
        for position, agent in enumerate(self.agents):
            for example in agent.examples:
                tokens = terms(_example_text(example))
                if tokens:
                    owners.append(position)
                    example_docs.append(tokens)
                    self._examples.append((agent.name, _example_request(example)))
        self._owners = np.asarray(owners, dtype=np.intp)
        self._fields = {
            "name": _Field([terms(name_words(a.name)) for a in self.agents]),
            "prose": _Field([terms(prose(a.description)) for a in self.agents]),
            "examples": _Field(
                [terms(" ".join(map(_example_text, a.examples))) for a in self.agents]
            ),
        }
        self._nearest = _Field(example_docs)

    @classmethod
    def for_roster(cls, roster: Roster) -> "LocalIndex":
        """The index of a roster, built on first use and reused while the roster is current."""
        return _CACHE.get(roster)

    def __len__(self) -> int:
        return len(self.agents)

    def __iter__(self) -> Iterator[AgentDefinition]:
        return iter(self.agents)

    def score(self, text: str) -> list[Candidate]:
        """Every agent with its score for the request, best first (ties by name)."""
        if not self.agents:
            return []
        query = query_terms(text)
        total = np.zeros(len(self.agents), dtype=np.float64)
        for name, field in self._fields.items():
            total += FIELD_WEIGHTS[name] * field.scores(query)
        if len(self._owners):
            best = np.zeros(len(self.agents), dtype=np.float64)
            np.maximum.at(best, self._owners, self._nearest.scores(query))
            total += FIELD_WEIGHTS["nearest"] * best
        total /= sum(FIELD_WEIGHTS.values())
        ranked = sorted(zip(self.names, total.tolist(), strict=True), key=_best_first)
        return [Candidate(agent=name, score=score) for name, score in ranked]

    def nearest_examples(self, text: str, k: int = 5) -> list[ExampleMatch]:
        """The `k` example requests most like this one, from any agent, best first."""
        if not self._examples or k <= 0:
            return []
        scores = self._nearest.scores(query_terms(text))
        order = np.argsort(-scores, kind="stable")[:k]
        return [
            ExampleMatch(agent=self._examples[i][0], request=self._examples[i][1], score=s)
            for i in order.tolist()
            if (s := float(scores[i])) > 0
        ]


def _best_first(item: tuple[str, float]) -> tuple[float, str]:
    return -item[1], item[0].casefold()


def _example_text(example: AgentExample) -> str:
    dialogue = " ".join(turn.text for turn in example.turns)
    return f"{example.context} {dialogue} {example.commentary}"


def _example_request(example: AgentExample) -> str:
    requests = example.user_requests
    return " / ".join(requests) if requests else example.context


class _IndexCache:
    """The indexes of the last few rosters seen, keyed by the roster object itself."""

    def __init__(self, size: int = 4) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[int, tuple[Roster, LocalIndex]] = OrderedDict()

    def get(self, roster: Roster) -> LocalIndex:
        key = id(roster)  # the roster is kept in the entry, so its id can't be reused meanwhile
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] is roster:
                self._entries.move_to_end(key)
                return entry[1]
        index = LocalIndex(roster)
        with self._lock:
            self._entries[key] = (roster, index)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return index


_CACHE = _IndexCache()
