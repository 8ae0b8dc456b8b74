"""Local scoring: how well a request matches each agent, in about a millisecond.

Each agent is scored over BM25 indexes (the `bm25s` library), each normalised to 0..1 by
the best score the request could get there (the summed IDF of its terms, so words no agent
uses count against it), then averaged with `FIELD_WEIGHTS` over the fields that agent has
(an agent without `<example>` blocks is not capped by the fields it lacks):

- `name`: the agent's name, split into words;
- `prose`: the description without its `<example>` blocks;
- `body`: the opening of the agent's system prompt;
- `examples`: everything in the agent's `<example>` blocks (context, dialogue, commentary);
- `nearest`: each `<example>` block on its own; an agent scores its best-matching block.

`rank` also returns what the router needs to judge whether to trust the top score (see
`LocalRanking`), and counts the team's confirmed routes in. Figures: `bench/routing_eval.py`.
"""

import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial
from math import log

import bm25s
import numpy as np
import numpy.typing as npt

from bot.agents.description import prose
from bot.agents.model import AgentDefinition, AgentExample
from bot.agents.registry import Roster
from bot.routing.decision import Candidate
from bot.routing.learned import LabelledExample
from bot.routing.specificity import specificity
from bot.routing.terms import name_words, query_terms, terms

FIELD_WEIGHTS = {"name": 0.3, "prose": 1.0, "body": 0.5, "examples": 1.0, "nearest": 1.0}
_DESCRIBED = ("name", "prose", "body")  # the fields every agent has
# A confirmed route adds this times its similarity to its agent's score.
LEARNED_WEIGHT = 0.5
LEARNED_MIN_SIMILARITY = 0.2
BODY_CHAR_LIMIT = 6000  # the opening of an agent's system prompt says what it does
# Agents offered to the model step: drawn in turn from the overall ranking and from the
# description and body alone, so an agent whose `<example>` blocks outscore it elsewhere
# still gets in when its own words match (held-out corpus: 94.8% → 99.3% of requests have
# their agent among 15; see `bench/routing_eval.py`).
SHORTLIST_SIZE = 15
_RECALL_FIELDS = ("prose", "body")
# Rivals of the top agent whose likeness to it `LocalRanking.rival_overlap` measures, and the
# share of the top score at which another agent counts in `LocalRanking.near_rivals`.
RIVALS = 4
NEAR_RIVAL_SHARE = 0.8
BM25_K1 = 1.2
BM25_B = 0.75

_Scores = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ExampleMatch:
    """An example request from an agent's description, and how well it matches."""

    agent: str
    request: str
    score: float
    source: str = "agent"  # "agent": an `<example>` of its file; "team": a confirmed route

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "agent": self.agent,
            "request": self.request,
            "score": round(self.score, 4),
            "source": self.source,
        }


class _Field:
    """One BM25 index over one token list per document, scoring queries on a 0..1 scale."""

    def __init__(self, documents: Sequence[list[str]]) -> None:
        self.size = len(documents)
        self.nonempty = np.asarray([1.0 if doc else 0.0 for doc in documents], dtype=np.float64)
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


@dataclass(frozen=True)
class LocalRanking:
    """Every agent's local score for one request, and what the decision to trust it reads.

    `matched_terms`: distinct request terms found anywhere in the top agent's text.
    `described_top`: the best agent on name, description and body alone (examples ignored);
    when it differs from the top candidate, the lead rests on examples only.
    `evidence`: how specific (see `specificity`) the request's words are that the top agent's
    own name, description and body have and the runner-up's lack: "terraform" is strong
    evidence, "api" or "review" weak. Words found only in `<example>` blocks don't count:
    examples are a few sample dialogues, and a word one of them happens to use ("dashboard")
    is no sign that the agent is the one for every request using it.
    `strongest_evidence`: the specificity of the most specific of those words alone.
    `evidence_share`: `evidence` as a share of the specificity of all the request's words the
    top agent's own text has (1: none of them is shared with the runner-up).
    `rival_overlap`: how alike the top agent's name and description (examples left out) are to
    those of its closest rival among the next `RIVALS` candidates (specificity-weighted
    Jaccard of their words, 0 to 1): high on a roster of near-identical agents, where a lead
    means little.
    `near_rivals`: how many other agents score at least `NEAR_RIVAL_SHARE` of the top score.
    `example_share`: the share of the top agent's score that its `<example>` blocks give.
    `learned`: the team's confirmed routes most like the request, best first.
    `shortlist`: the agents to offer the model step (drawn on first use: the local decision
    doesn't need it).
    """

    candidates: list[Candidate]
    matched_terms: int = 0
    described_top: str | None = None
    described_lead: float = 0.0
    evidence: float = 0.0
    strongest_evidence: float = 0.0
    evidence_share: float = 0.0
    rival_overlap: float = 0.0
    near_rivals: int = 0
    example_share: float = 0.0
    learned: list[ExampleMatch] = field(default_factory=list)
    draw_shortlist: Callable[[], list[str]] | None = field(default=None, compare=False, repr=False)

    @cached_property
    def shortlist(self) -> list[str]:
        """The `SHORTLIST_SIZE` agents to offer the model step, in the order drawn."""
        if self.draw_shortlist is None:
            return [c.agent for c in self.candidates[:SHORTLIST_SIZE]]
        return self.draw_shortlist()

    @property
    def top(self) -> Candidate | None:
        """The best candidate, if any agent scored above zero."""
        return self.candidates[0] if self.candidates and self.candidates[0].score > 0 else None


class LocalIndex:
    """Scores requests against a fixed set of agents; build once per roster version."""

    def __init__(self, agents: Iterable[AgentDefinition]) -> None:
        unique: dict[str, AgentDefinition] = {}
        for agent in agents:
            unique.setdefault(agent.name, agent)
        self.agents: tuple[AgentDefinition, ...] = tuple(unique.values())
        self.names: tuple[str, ...] = tuple(unique)
        self._positions = {name: i for i, name in enumerate(self.names)}
        by_name = sorted(range(len(self.names)), key=lambda i: self.names[i].casefold())
        self._name_order = np.empty(len(self.names), dtype=np.intp)
        self._name_order[by_name] = np.arange(len(self.names))
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
        documents = {
            "name": [terms(name_words(a.name)) for a in self.agents],
            "prose": [terms(prose(a.description)) for a in self.agents],
            "body": [terms(a.body[:BODY_CHAR_LIMIT]) for a in self.agents],
            "examples": [terms(" ".join(map(_example_text, a.examples))) for a in self.agents],
        }
        self._fields = {name: _Field(docs) for name, docs in documents.items()}
        self._nearest = _Field(example_docs)
        self._vocabulary = [
            frozenset(term for docs in documents.values() for term in docs[i])
            for i in range(len(self.agents))
        ]
        self._described_vocabulary = [
            frozenset(term for name in _DESCRIBED for term in documents[name][i])
            for i in range(len(self.agents))
        ]
        # Each agent is averaged over the fields it has, so one without examples is not capped.
        present = np.zeros(len(self.agents), dtype=np.float64)
        for name, index in self._fields.items():
            present += FIELD_WEIGHTS[name] * index.nonempty
        has_examples = np.zeros(len(self.agents), dtype=np.float64)
        has_examples[self._owners] = 1.0
        present += FIELD_WEIGHTS["nearest"] * has_examples
        self._weights = np.maximum(present, 1e-9)
        described = sum(FIELD_WEIGHTS[name] * self._fields[name].nonempty for name in _DESCRIBED)
        self._described_weights = np.maximum(described, 1e-9)
        # What an agent says it is for: its name and description without examples.
        self._profiles = [
            frozenset(documents["name"][i]) | frozenset(documents["prose"][i])
            for i in range(len(self.agents))
        ]
        words = frozenset().union(*self._profiles)
        self._specificity = {term: specificity(term) for term in words}
        self._profile_mass = [
            sum(self._specificity[term] for term in profile) for profile in self._profiles
        ]

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
        return self.rank(text).candidates

    def rank(self, text: str, learned: Sequence[LabelledExample] = ()) -> LocalRanking:
        """Every agent's score, with the team's confirmed routes counted in, and the evidence."""
        if not self.agents:
            return LocalRanking(candidates=[])
        query = query_terms(text)
        fields = {name: index.scores(query) for name, index in self._fields.items()}
        described: _Scores = np.asarray(
            sum(FIELD_WEIGHTS[name] * fields[name] for name in _DESCRIBED), dtype=np.float64
        )
        total = described + FIELD_WEIGHTS["examples"] * fields["examples"]
        if len(self._owners):
            best = np.zeros(len(self.agents), dtype=np.float64)
            np.maximum.at(best, self._owners, self._nearest.scores(query))
            total = total + FIELD_WEIGHTS["nearest"] * best
        unscaled = total
        total = total / self._weights
        matches = self._learned_matches(query, learned)
        for match in matches:
            position = self._positions[match.agent]
            boost = LEARNED_WEIGHT * match.score
            total[position] = max(total[position], min(1.0, total[position] + boost))
        order = np.lexsort((self._name_order, -total))  # best first, ties by name
        scores = total[order].tolist()
        names = self.names
        candidates = [
            Candidate(agent=names[i], score=score)
            for i, score in zip(order.tolist(), scores, strict=True)
        ]
        described_scores = described / self._described_weights
        described_top, described_lead = _leader(self.names, described_scores)
        top = self._positions[candidates[0].agent]
        matched = sum(term in self._vocabulary[top] for term in query)
        own = self._described_vocabulary[top]
        rivals = [self._positions[c.agent] for c in candidates[1 : 1 + RIVALS]]
        runner_up = self._described_vocabulary[rivals[0]] if rivals else frozenset()
        mine = [specificity(term) for term in query if term in own]
        unique = [specificity(term) for term in set(query) if term in own and term not in runner_up]
        evidence = sum(specificity(term) for term in query if term in own and term not in runner_up)
        near = float(total[order[0]]) * NEAR_RIVAL_SHARE
        reach = float(unscaled[top])
        return LocalRanking(
            candidates=candidates,
            matched_terms=matched,
            described_top=described_top,
            described_lead=described_lead,
            evidence=evidence,
            strongest_evidence=max(unique, default=0.0),
            evidence_share=evidence / sum(mine) if mine else 0.0,
            rival_overlap=max((self._overlap(top, rival) for rival in rivals), default=0.0),
            near_rivals=int(np.count_nonzero(total >= near)) - 1 if near > 0 else 0,
            example_share=1.0 - float(described[top]) / reach if reach > 0 else 0.0,
            learned=matches,
            draw_shortlist=partial(self._shortlist, candidates, fields),
        )

    def _overlap(self, first: int, second: int) -> float:
        """Specificity-weighted Jaccard of two agents' names and descriptions (no examples)."""
        shared = self._profiles[first] & self._profiles[second]
        mass = sum(self._specificity[term] for term in shared)
        union = self._profile_mass[first] + self._profile_mass[second] - mass
        return mass / union if union > 0 else 0.0

    def _shortlist(self, candidates: Sequence[Candidate], fields: dict[str, _Scores]) -> list[str]:
        """The agents to offer the model: in turn from the overall and the recall rankings."""
        rankings = [[c.agent for c in candidates[:SHORTLIST_SIZE]]]
        rankings += [self._best(fields[name], SHORTLIST_SIZE) for name in _RECALL_FIELDS]
        return _interleave(rankings, SHORTLIST_SIZE)

    def _best(self, scores: _Scores, k: int) -> list[str]:
        """The names of the `k` best positive scores, best first (ties by name)."""
        positive = np.flatnonzero(scores > 0)
        order = positive[np.lexsort((self._name_order[positive], -scores[positive]))]
        return [self.names[i] for i in order[:k].tolist()]

    def nearest_examples(
        self, text: str, k: int = 5, learned: Sequence[LabelledExample] = ()
    ) -> list[ExampleMatch]:
        """The `k` example requests most like this one, the team's confirmed routes first."""
        query = query_terms(text)
        found = self._learned_matches(query, learned)[:k]
        if not self._examples or len(found) >= k:
            return found
        scores = self._nearest.scores(query)
        order = np.argsort(-scores, kind="stable")[: k - len(found)]
        return found + [
            ExampleMatch(agent=self._examples[i][0], request=self._examples[i][1], score=s)
            for i in order.tolist()
            if (s := float(scores[i])) > 0
        ]

    def similarity(self, first: Sequence[str], second: Sequence[str]) -> float:
        """Weighted Jaccard similarity of two term lists, weighting rare words more (0 to 1)."""
        left, right = set(first), set(second)
        union = sum(self._weight(term) for term in left | right)
        if not union:
            return 0.0
        return sum(self._weight(term) for term in left & right) / union

    def _weight(self, term: str) -> float:
        return self._fields["prose"].idf(term)

    def _learned_matches(
        self, query: Sequence[str], learned: Sequence[LabelledExample]
    ) -> list[ExampleMatch]:
        """Confirmed routes to loaded agents sharing words with the request, most alike first."""
        found: list[ExampleMatch] = []
        for example in learned:
            if example.agent not in self._positions:
                continue
            score = self.similarity(query, query_terms(example.text))
            if score >= LEARNED_MIN_SIMILARITY:
                found.append(
                    ExampleMatch(
                        agent=example.agent, request=example.text, score=score, source="team"
                    )
                )
        found.sort(key=lambda match: -match.score)
        return found


def _leader(names: Sequence[str], scores: _Scores) -> tuple[str | None, float]:
    """The best-scoring name and its lead over the runner-up as a share of its score."""
    if not len(scores) or scores.max() <= 0:
        return None, 0.0
    order = np.argsort(-scores, kind="stable")
    best = float(scores[order[0]])
    second = float(scores[order[1]]) if len(order) > 1 else 0.0
    return names[int(order[0])], (best - second) / best


def _interleave(rankings: Sequence[Sequence[str]], size: int) -> list[str]:
    """The first `size` distinct names taken in turn from each ranking."""
    chosen: dict[str, None] = {}
    for position in range(max(map(len, rankings), default=0)):
        for ranking in rankings:
            if position < len(ranking) and len(chosen) < size:
                chosen.setdefault(ranking[position], None)
    return list(chosen)


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
