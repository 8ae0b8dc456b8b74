"""What the router decided, in a form that can be stored and read back."""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class RouteMethod(StrEnum):
    """How an agent was chosen, or why none was."""

    EXPLICIT = "explicit"  # the request, a button or `--agent` named the agent
    CHANNEL_DEFAULT = "channel_default"  # the channel is bound to an agent
    LOCAL = "local"  # local scoring was sure enough on its own
    MODEL = "model"  # the small model chose
    ASK = "ask"  # unsure: ask the requester to pick one of `candidates`
    NONE = "none"  # no agent fits: answer politely with `coverage`


@dataclass(frozen=True)
class Candidate:
    """An agent and its local score (0 to 1; higher is a better match)."""

    agent: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: `{"agent": …, "score": …}`."""
        return {"agent": self.agent, "score": round(self.score, 4)}


@dataclass(frozen=True)
class RouteDecision:
    """One routing decision: who gets the request, how, how sure, and how long it took.

    `agent` is None for `ask` (offer `candidates`) and `none` (answer with `coverage`).
    `confidence`: 1.0 when a person, the thread or the channel decided; the top local score
    (0 to 1) for `local` and for `ask`; 0.9 when the model chose or said `none` and 0.5 when
    it was unsure; 1.0 for a `none` where no agent matched a single word.
    `text` is the request with an explicit `NAME:` or `--agent NAME` removed, when one was.
    `model_answer` is what the model said (an agent, `none` or `error`) when it was asked.
    `examples`: the examples that weighed in (a confirmed route that decided locally, or the
    few-shot examples the model was shown), each `{agent, request, score, source}`.
    """

    agent: str | None
    method: RouteMethod
    confidence: float
    candidates: list[Candidate] = field(default_factory=list)
    ms: float = 0.0
    reason: str = ""
    coverage: str | None = None
    text: str | None = None
    model_answer: str | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with every field."""
        return {
            "agent": self.agent,
            "method": self.method.value,
            "confidence": round(self.confidence, 4),
            "candidates": [candidate.to_dict() for candidate in self.candidates],
            "ms": round(self.ms, 3),
            "reason": self.reason,
            "coverage": self.coverage,
            "text": self.text,
            "model_answer": self.model_answer,
            "examples": list(self.examples),
        }
