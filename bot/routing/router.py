"""Choose the agent for a request: explicit, channel default, local, model, or ask.

A thread that already has an agent stays with it without asking the router (the desk).
"""

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol, runtime_checkable

from bot.agents.model import AgentDefinition
from bot.agents.registry import Roster
from bot.routing.decision import Candidate, RouteDecision, RouteMethod
from bot.routing.explicit import match_agent_name, parse_explicit
from bot.routing.learned import LabelledExample, LearnedExamples
from bot.routing.local import SHORTLIST_SIZE, LocalIndex, LocalRanking
from bot.routing.model_classifier import ModelChoice, ModelClassifier
from bot.routing.terms import coverage

log = logging.getLogger(__name__)

__all__ = ["Candidate", "RouteDecision", "RouteMethod", "Router", "local_lead"]

# The local step decides alone only when `confident_locally` says so. The thresholds were
# chosen by `bench/routing_eval.py` on its development set (169 Slack-style requests over the
# shipped agents and corpus rosters of distinct roles, chit-chat included), deciding the most
# with none wrong on the folds it tunes on; the bench prints the 5-fold cross-validated figures and the held-out
# corpus figures (whole `<example>` block left out) they give. Not tuned on the corpus.
LOCAL_FLOOR = 0.08
LOCAL_MARGIN = 0.3
MIN_MATCHED_TERMS = 2
LOCAL_EVIDENCE = 4.5
# A confirmed route this similar to the request (weighted Jaccard) decides locally.
LEARNED_SURE = 0.6
# The model disagreeing with a local score this close to deciding means: ask.
CLOSE_MARGIN = LOCAL_MARGIN / 2
ASK_CANDIDATES = 3  # buttons offered when asking
RECORDED_CANDIDATES = 5  # local candidates kept with a decision
NEAREST_EXAMPLES = 6  # example requests shown to the model
MODEL_CANDIDATES = SHORTLIST_SIZE  # agents offered to the model (`LocalRanking.shortlist`)
MODEL_SURE = 0.9
MODEL_UNSURE = 0.5


@runtime_checkable
class RosterProvider(Protocol):
    """Anything with a current roster, such as `AgentRegistry`."""

    def roster(self) -> Roster: ...


RosterSource = RosterProvider | Roster | Callable[[], Roster]


def confident_locally(
    ranking: LocalRanking, *, floor: float, margin: float, evidence: float = LOCAL_EVIDENCE
) -> bool:
    """True when the local step may decide alone: it is very likely right.

    The best score reaches `floor`, leads the runner-up by `margin` of itself, the request
    shares at least `MIN_MATCHED_TERMS` words with that agent, the words only it has are
    specific enough (`evidence`), and the agent also leads on its own description and body
    (a lead resting on `<example>` wording alone is not trusted).
    A confirmed route of the team's nearly identical to the request decides on its own.
    """
    top = ranking.top
    if top is None:
        return False
    learned = ranking.learned[0] if ranking.learned else None
    if learned is not None and learned.score >= LEARNED_SURE and learned.agent == top.agent:
        return True
    return (
        top.score >= floor
        and local_lead(ranking.candidates) >= margin
        and ranking.matched_terms >= MIN_MATCHED_TERMS
        and ranking.evidence >= evidence
        and ranking.described_top == top.agent
    )


def local_lead(candidates: Sequence[Candidate]) -> float:
    """How far the best score leads the runner-up, as a share of the best (0 to 1)."""
    if not candidates or candidates[0].score <= 0:
        return 0.0
    runner_up = candidates[1].score if len(candidates) > 1 else 0.0
    return (candidates[0].score - runner_up) / candidates[0].score


class Router:
    """Routes requests over the agents a roster source currently holds."""

    def __init__(
        self,
        roster_source: RosterSource,
        classifier: ModelClassifier | None = None,
        *,
        learned: LearnedExamples | None = None,
        floor: float = LOCAL_FLOOR,
        margin: float = LOCAL_MARGIN,
        evidence: float = LOCAL_EVIDENCE,
    ) -> None:
        self.roster_source = roster_source
        self.classifier = classifier
        self.learned = learned
        self.floor = floor
        self.margin = margin
        self.evidence = evidence

    def roster(self) -> Roster:
        """The roster as it is now."""
        source = self.roster_source
        if isinstance(source, Roster):
            return source
        if isinstance(source, RosterProvider):
            return source.roster()
        return source()

    def route(
        self,
        *,
        text: str,
        channel_default: str | None = None,
        explicit_agent: str | None = None,
        previous_turn: str | None = None,
        local_only: bool = False,
        team_id: str | None = None,
    ) -> RouteDecision:
        """Decide who takes `text`: explicit name, channel, local scores, model, ask.

        `team_id` selects the workspace whose confirmed routes count. Never raises for a
        model failure: it asks the requester instead.
        """
        started = time.perf_counter()
        decision = self._decide(
            text=text,
            channel_default=channel_default,
            explicit_agent=explicit_agent,
            previous_turn=previous_turn,
            local_only=local_only or self.classifier is None,
            team_id=team_id,
        )
        return replace(decision, ms=(time.perf_counter() - started) * 1000)

    def _decide(
        self,
        *,
        text: str,
        channel_default: str | None,
        explicit_agent: str | None,
        previous_turn: str | None,
        local_only: bool,
        team_id: str | None,
    ) -> RouteDecision:
        roster = self.roster()
        agents = list(roster)
        given = _named_or_bound(
            text=text,
            roster=roster,
            channel_default=channel_default,
            explicit_agent=explicit_agent,
        )
        if given is not None:
            return given
        if not agents:
            return RouteDecision(
                agent=None,
                method=RouteMethod.NONE,
                confidence=1.0,
                reason="no agents are loaded",
                coverage=coverage([]),
            )
        index = LocalIndex.for_roster(roster)
        learned = self.confirmed_routes(team_id)
        ranking = index.rank(text, learned)
        candidates = ranking.candidates
        if explicit_agent:
            reason = f"no loaded agent is called {explicit_agent!r}; asking which one"
            return _ask(candidates, reason)
        if confident_locally(ranking, floor=self.floor, margin=self.margin, evidence=self.evidence):
            return _local(ranking)
        top, lead = candidates[0].score, local_lead(candidates)
        if local_only or self.classifier is None:
            if top <= 0:
                return _nothing_matches(agents, "no agent's description matches the request")
            return _ask(candidates, f"local scoring is unsure: {_scored(candidates)}")
        shortlist = [roster.agents[name] for name in ranking.shortlist[:MODEL_CANDIDATES]]
        examples = index.nearest_examples(text, NEAREST_EXAMPLES, learned)
        choice = self.classifier.choose(
            text=text, previous_turn=previous_turn, candidates=shortlist, examples=examples
        )
        close = top >= self.floor and lead >= CLOSE_MARGIN
        decision = _after_model(choice, candidates, agents, close=close)
        return replace(decision, examples=[match.to_dict() for match in examples])

    def confirmed_routes(self, team_id: str | None) -> Sequence[LabelledExample]:
        """The workspace's confirmed routes (none without a store or a workspace)."""
        if self.learned is None or team_id is None:
            return ()
        try:
            return self.learned.examples(team_id=team_id)
        except Exception:  # routing goes on without them
            log.exception("could not read the confirmed routes of %s", team_id)
            return ()


def _local(ranking: LocalRanking) -> RouteDecision:
    """The local step's decision, naming the confirmed route when one decided."""
    candidates = ranking.candidates
    top = candidates[0]
    learned = [match for match in ranking.learned if match.agent == top.agent][:1]
    reason = _scored(candidates)
    if learned and learned[0].score >= LEARNED_SURE:
        reason = f"the team gave a request like this to {top.agent} ({reason})"
    return RouteDecision(
        agent=top.agent,
        method=RouteMethod.LOCAL,
        confidence=top.score,
        candidates=candidates[:RECORDED_CANDIDATES],
        reason=reason,
        examples=[match.to_dict() for match in ranking.learned[:NEAREST_EXAMPLES]],
    )


def _named_or_bound(
    *,
    text: str,
    roster: Roster,
    channel_default: str | None,
    explicit_agent: str | None,
) -> RouteDecision | None:
    """A named agent, or the channel's default agent."""
    agents = list(roster)
    if explicit_agent:
        chosen = match_agent_name(explicit_agent, agents)
        if chosen is not None:
            return _given(chosen, RouteMethod.EXPLICIT, f"chosen by name ({explicit_agent})")
    named, rest = parse_explicit(text, agents)
    if named is not None:
        decision = _given(named, RouteMethod.EXPLICIT, f"the request names {named.name}")
        return replace(decision, text=rest)
    bound = match_agent_name(channel_default, agents) if channel_default else None
    if bound is not None:
        reason = f"{bound.name} is this channel's default agent"
        return _given(bound, RouteMethod.CHANNEL_DEFAULT, reason)
    return None


def _given(agent: AgentDefinition, method: RouteMethod, reason: str) -> RouteDecision:
    return RouteDecision(agent=agent.name, method=method, confidence=1.0, reason=reason)


def _scored(candidates: Sequence[Candidate]) -> str:
    """One sentence on the local scores: `X scored 0.42, 0.20 ahead of Y (0.22)`."""
    top = candidates[0]
    if top.score <= 0:
        return "no agent's description matches the request"
    if len(candidates) < 2 or candidates[1].score <= 0:
        return f"{top.agent} scored {top.score:.2f}; no other agent matched"
    second = candidates[1]
    return (
        f"{top.agent} scored {top.score:.2f}, {top.score - second.score:.2f} ahead of "
        f"{second.agent} ({second.score:.2f})"
    )


def _ask(
    candidates: Sequence[Candidate],
    reason: str,
    *,
    first: str | None = None,
    confidence: float | None = None,
) -> RouteDecision:
    """Ask the requester, offering the model's pick (if any) and the best-scoring agents."""
    offered = [c for c in candidates if c.agent == first] if first else []
    offered += [c for c in candidates if c.score > 0 and c.agent != first]
    if confidence is None:
        confidence = candidates[0].score if candidates else 0.0
    return RouteDecision(
        agent=None,
        method=RouteMethod.ASK,
        confidence=confidence,
        candidates=offered[:ASK_CANDIDATES],
        reason=reason,
    )


def _nothing_matches(
    agents: list[AgentDefinition], reason: str, confidence: float = 1.0
) -> RouteDecision:
    return RouteDecision(
        agent=None,
        method=RouteMethod.NONE,
        confidence=confidence,
        reason=reason,
        coverage=coverage(agents),
    )


def _after_model(
    choice: ModelChoice, candidates: list[Candidate], agents: list[AgentDefinition], *, close: bool
) -> RouteDecision:
    """Steps 5 and 6: take the model's pick when it is sure, or unsure but agrees with the
    local top candidate; ask when it is unsure otherwise, fails, or contradicts a local
    score that was close to deciding."""
    local_top = candidates[0].agent
    if choice.failed:
        reason = f"{choice.error}; local scoring is unsure: {_scored(candidates)}"
        return _with_answer(_ask(candidates, reason), choice)
    if close and choice.agent != local_top:
        said = choice.agent or "none"
        reason = (
            f"the model said {said}, but local scoring leans the other way: {_scored(candidates)}"
        )
        return _with_answer(_ask(candidates, reason, first=choice.agent), choice)
    if not choice.confident and choice.agent is not None and choice.agent == local_top:
        decision = _model_decision(choice, candidates, MODEL_UNSURE)
        reason = f"the model leaned to {choice.agent}, and local scoring puts it first too"
        return _with_answer(replace(decision, reason=reason), choice)
    if not choice.confident:
        if choice.agent is None and candidates[0].score <= 0:
            reason = "the model leaned to none, and no agent's description matches"
            return _with_answer(_nothing_matches(agents, reason, MODEL_UNSURE), choice)
        said = choice.agent or "none"
        reason = f"the model was unsure (it said {said}); local scoring is unsure too"
        return _with_answer(
            _ask(candidates, reason, first=choice.agent, confidence=MODEL_UNSURE), choice
        )
    if choice.agent is None:
        reason = "the model found no agent for this request" + (
            f": {choice.reason}" if choice.reason else ""
        )
        return _with_answer(_nothing_matches(agents, reason, MODEL_SURE), choice)
    return _with_answer(_model_decision(choice, candidates, MODEL_SURE), choice)


def _model_decision(
    choice: ModelChoice, candidates: list[Candidate], confidence: float
) -> RouteDecision:
    recorded = candidates[:RECORDED_CANDIDATES]
    recorded += [c for c in candidates[RECORDED_CANDIDATES:] if c.agent == choice.agent]
    return RouteDecision(
        agent=choice.agent,
        method=RouteMethod.MODEL,
        confidence=confidence,
        candidates=recorded,
        reason=f"the model chose {choice.agent}"
        + (f": {choice.reason}" if choice.reason else "")
        + f" (local: {_scored(candidates)})",
    )


def _with_answer(decision: RouteDecision, choice: ModelChoice) -> RouteDecision:
    answer = "error" if choice.failed else (choice.agent or "none")
    return replace(decision, model_answer=answer)
