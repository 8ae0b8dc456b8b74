"""Loading, validating and watching agent files in the Claude Code subagent format."""

from bot.agents.model import (
    AgentDefinition,
    AgentExample,
    AgentProblem,
    ExampleTurn,
    ReadMode,
    Severity,
)
from bot.agents.registry import AgentRegistry, FileReport, Roster, load_roster

__all__ = [
    "AgentDefinition",
    "AgentExample",
    "AgentProblem",
    "AgentRegistry",
    "ExampleTurn",
    "FileReport",
    "ReadMode",
    "Roster",
    "Severity",
    "load_roster",
]
