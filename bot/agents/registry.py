"""The set of agents under a folder, kept in step with the disk at next to no cost."""

import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from bot.agents.model import AgentDefinition, AgentProblem, ReadMode, Severity
from bot.agents.parser import ParseResult, parse_agent_file

# Markdown that sits beside agents in real repositories and is documentation, not an agent.
_DOCUMENTATION = {"readme.md", "license.md", "licenses.md", "changelog.md", "contributing.md"}

_Signature = tuple[int, int, int]  # mtime_ns, size, inode


@dataclass(frozen=True)
class FileReport:
    """How one file was read: the agent it gave (if any) and its problems."""

    path: Path
    agent: AgentDefinition | None
    problems: tuple[AgentProblem, ...]

    @property
    def read_mode(self) -> ReadMode | None:
        """Strict or tolerant for a loaded agent; None when the file was unusable."""
        return self.agent.read_mode if self.agent else None

    @property
    def usable(self) -> bool:
        """False when the file gave no agent."""
        return self.agent is not None


@dataclass(frozen=True)
class Roster:
    """An immutable view of the agents loaded at one moment."""

    directory: Path
    version: int
    agents: Mapping[str, AgentDefinition]
    files: tuple[FileReport, ...]
    problems: tuple[AgentProblem, ...] = field(default=())

    def get(self, name: str) -> AgentDefinition | None:
        """The agent with this name, matching case-insensitively when no exact match exists."""
        agent = self.agents.get(name)
        if agent is not None:
            return agent
        folded = name.casefold()
        return next((a for n, a in self.agents.items() if n.casefold() == folded), None)

    def __iter__(self) -> Iterator[AgentDefinition]:
        return iter(self.agents.values())

    def __len__(self) -> int:
        return len(self.agents)

    @property
    def has_errors(self) -> bool:
        """True when any file is unusable or a name is taken twice."""
        return any(p.severity is Severity.ERROR for p in self.problems)


class AgentRegistry:
    """Loads every agent file under a folder and reloads only what changed on disk.

    `roster()` is cheap when nothing changed: one `stat` per file, no parsing.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._signatures: dict[str, _Signature] = {}
        self._results: dict[str, ParseResult] = {}
        self._roster: Roster | None = None
        self._version = 0

    def roster(self) -> Roster:
        """The current agents, re-reading added, changed and deleted files first."""
        with self._lock:
            signatures = _scan(self.directory)
            if self._roster is not None and signatures == self._signatures:
                return self._roster
            for path, signature in signatures.items():
                if self._signatures.get(path) != signature or path not in self._results:
                    self._results[path] = parse_agent_file(Path(path))
            for path in set(self._results) - set(signatures):
                del self._results[path]
            self._signatures = signatures
            self._version += 1
            self._roster = _build_roster(self.directory, self._version, self._results)
            return self._roster


def load_roster(directory: Path) -> Roster:
    """Load a folder once, without keeping a registry around."""
    return AgentRegistry(directory).roster()


def _scan(directory: Path) -> dict[str, _Signature]:
    """Every `.md` file below the folder, hidden ones included, with its stat signature.

    Plain strings and an explicit stack keep this cheap: it runs on every `roster()` call.
    """
    found: dict[str, _Signature] = {}
    stack = [str(directory)]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                name = entry.name
                try:
                    if entry.is_dir():
                        if name != ".git":
                            stack.append(entry.path)
                        continue
                    lower = name.lower()
                    if lower.endswith(".md") and lower not in _DOCUMENTATION:
                        info = entry.stat()
                        found[entry.path] = (info.st_mtime_ns, info.st_size, info.st_ino)
                except OSError:
                    continue
    return found


def _build_roster(directory: Path, version: int, results: Mapping[str, ParseResult]) -> Roster:
    agents: dict[str, AgentDefinition] = {}
    problems: list[AgentProblem] = []
    reports: list[FileReport] = []
    for path in sorted(results):
        result = results[path]
        source = Path(path)
        reports.append(FileReport(path=source, agent=result.agent, problems=result.problems))
        problems.extend(result.problems)
        agent = result.agent
        if agent is None:
            continue
        winner = agents.get(agent.name)
        if winner is not None:
            problems.append(
                AgentProblem(
                    path=source,
                    line=2,
                    message=(
                        f"the name {agent.name!r} is also used by {winner.source}; "
                        f"that file wins (it sorts first) and this one is ignored"
                    ),
                )
            )
            continue
        agents[agent.name] = agent
    return Roster(
        directory=directory,
        version=version,
        agents=MappingProxyType(agents),
        files=tuple(reports),
        problems=tuple(problems),
    )
