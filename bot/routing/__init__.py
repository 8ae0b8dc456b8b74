"""Choosing the agent for a request: explicit name, channel, local scores, model, ask.

Knows nothing of Slack or SQL: the engine records each `RouteDecision` (`to_dict()`).
"""

from bot.routing.decision import Candidate, RouteDecision, RouteMethod
from bot.routing.explicit import match_agent_name, parse_explicit
from bot.routing.local import ExampleMatch, LocalIndex
from bot.routing.model_classifier import ModelChoice, ModelClassifier
from bot.routing.router import Router

__all__ = [
    "Candidate",
    "ExampleMatch",
    "LocalIndex",
    "ModelChoice",
    "ModelClassifier",
    "RouteDecision",
    "RouteMethod",
    "Router",
    "match_agent_name",
    "parse_explicit",
]
