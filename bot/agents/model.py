"""The shape of an agent as agentdesk sees it, and of the problems found reading one."""

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class ReadMode(StrEnum):
    """How a file's frontmatter was read."""

    STRICT = "strict"  # valid YAML
    TOLERANT = "tolerant"  # YAML failed; read `key: value` lines the way Claude Code does


class Severity(StrEnum):
    """Whether a problem makes the file unusable."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class AgentProblem:
    """Something wrong with an agent file, located to a line where possible."""

    path: Path
    line: int
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class ExampleTurn:
    """One line of dialogue inside an `<example>` block."""

    role: str  # "user" or "assistant"
    text: str


@dataclass(frozen=True)
class AgentExample:
    """One `<example>` block from a description."""

    context: str
    turns: tuple[ExampleTurn, ...]
    commentary: str

    @property
    def user_requests(self) -> tuple[str, ...]:
        """What the user says in this example, in order."""
        return tuple(turn.text for turn in self.turns if turn.role == "user")

    @property
    def assistant_replies(self) -> tuple[str, ...]:
        """What the assistant answers in this example, in order."""
        return tuple(turn.text for turn in self.turns if turn.role == "assistant")


@dataclass(frozen=True)
class AgentDefinition:
    """An agent loaded from a Claude Code subagent file."""

    name: str
    description: str
    body: str
    source: Path
    read_mode: ReadMode
    examples: tuple[AgentExample, ...] = ()
    tools_declared: str | list[str] | None = None
    model: str | None = None
    color: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tools(self) -> list[str] | None:
        """The tools as a list; None when the file has no `tools:` (all tools, as in Claude Code)."""
        return normalise_tools(self.tools_declared)

    @property
    def allows_all_tools(self) -> bool:
        """True when the agent has no tool list or the wildcard `*`."""
        tools = self.tools
        return tools is None or "*" in tools

    def allows_tool(self, tool: str) -> bool:
        """Whether the agent may use the named Claude Code tool (e.g. `Read`)."""
        return self.allows_all_tools or tool in (self.tools or [])


def normalise_tools(declared: str | list[str] | None) -> list[str] | None:
    """Turn `tools:` as written (comma string, YAML list, or absent) into a list."""
    if declared is None:
        return None
    items = declared.split(",") if isinstance(declared, str) else [str(item) for item in declared]
    return [item.strip() for item in items if item.strip()]
