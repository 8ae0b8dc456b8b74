"""Choosing the agent for a request: explicit name, channel, local scores, model, ask.

Knows nothing of Slack or SQL: the engine records each `RouteDecision` (`to_dict()`).
The names below load on first use, so `agentdesk --help` does not pay for the scorer.
"""

from importlib import import_module
from typing import Any

_HOMES = {
    "Candidate": "bot.routing.decision",
    "RouteDecision": "bot.routing.decision",
    "RouteMethod": "bot.routing.decision",
    "match_agent_name": "bot.routing.explicit",
    "parse_explicit": "bot.routing.explicit",
    "ExampleMatch": "bot.routing.local",
    "LocalIndex": "bot.routing.local",
    "ModelChoice": "bot.routing.model_classifier",
    "ModelClassifier": "bot.routing.model_classifier",
    "Router": "bot.routing.router",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'bot.routing' has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
