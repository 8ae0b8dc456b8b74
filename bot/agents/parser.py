"""Read one agent file the way Claude Code does: strict YAML first, then a tolerant reading."""

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from frontmatter.default_handlers import YAMLHandler

from bot.agents.examples import parse_examples
from bot.agents.model import AgentDefinition, AgentProblem, ReadMode, Severity

_FENCE = re.compile(r"^-{3}\s*$")
_KEY_LINE = re.compile(r"^([A-Za-z_][\w-]*)\s*:(?:\s(.*)|)$")
_LIST_ITEM = re.compile(r"^\s*-\s+(.*)$")
_KNOWN_KEYS = {"name", "description", "tools", "model", "color"}


@dataclass(frozen=True)
class ParseResult:
    """An agent, or the reason it can't be used, plus any warnings."""

    agent: AgentDefinition | None
    problems: tuple[AgentProblem, ...]


@dataclass(frozen=True)
class _Frontmatter:
    values: dict[str, Any]
    key_lines: dict[str, int]
    mode: ReadMode
    yaml_error: str | None


def parse_agent_text(text: str, *, path: Path) -> ParseResult:
    """Parse an agent file's text; never raises for bad content."""
    text = text.removeprefix("\ufeff")
    lines = text.splitlines()
    if not lines or not _FENCE.match(lines[0]):
        return _fail(path, 1, "no frontmatter: the file must start with a '---' line")
    closing = next((i for i in range(1, len(lines)) if _FENCE.match(lines[i])), None)
    if closing is None:
        return _fail(path, 1, "frontmatter is not closed: add a '---' line after the keys")
    raw = "\n".join(lines[1:closing])
    body = "\n".join(lines[closing + 1 :]).strip()
    frontmatter = _read_frontmatter(raw)
    if isinstance(frontmatter, AgentProblem):
        return ParseResult(agent=None, problems=(_at(frontmatter, path),))

    problems: list[AgentProblem] = []
    if frontmatter.yaml_error:
        problems.append(
            AgentProblem(
                path=path,
                line=2,
                severity=Severity.WARNING,
                message=(
                    "frontmatter is not valid YAML "
                    f"({frontmatter.yaml_error}); read it line by line as Claude Code does"
                ),
            )
        )

    def line_of(key: str) -> int:
        return frontmatter.key_lines.get(key, 0) + 2 if key in frontmatter.key_lines else 2

    values = frontmatter.values
    name = _text(values.get("name")).strip()
    description = _text(values.get("description"))
    if not name:
        return _fail(path, line_of("name"), "missing 'name:' in the frontmatter", problems)
    if not description.strip():
        return _fail(
            path, line_of("description"), "missing 'description:' in the frontmatter", problems
        )
    bad = _untypable(name)
    if bad:
        return _fail(
            path,
            line_of("name"),
            f"name {name!r} contains {bad}, which can't be typed in Slack; "
            "use visible characters only",
            problems,
        )
    if not body:
        return _fail(
            path,
            closing + 1,
            "empty body: write the agent's system prompt after the closing '---'",
            problems,
        )

    tools = values.get("tools")
    if tools is not None and not isinstance(tools, str | list):
        problems.append(
            AgentProblem(
                path=path,
                line=line_of("tools"),
                severity=Severity.WARNING,
                message="'tools:' should be a comma-separated list; ignored",
            )
        )
        tools = None
    agent = AgentDefinition(
        name=name,
        description=description,
        body=body,
        source=path,
        read_mode=frontmatter.mode,
        examples=parse_examples(description),
        tools_declared=[str(t) for t in tools] if isinstance(tools, list) else tools,
        model=_text(values.get("model")).strip() or None,
        color=_text(values.get("color")).strip() or None,
        extra={k: v for k, v in values.items() if k not in _KNOWN_KEYS},
    )
    return ParseResult(agent=agent, problems=tuple(problems))


def parse_agent_file(path: Path) -> ParseResult:
    """Read and parse an agent file; unreadable files are reported, not raised."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        return _fail(path, 1, f"not UTF-8 text ({error.reason} at byte {error.start})")
    except OSError as error:
        return _fail(path, 1, f"cannot read the file: {error.strerror}")
    return parse_agent_text(text, path=path)


def _read_frontmatter(raw: str) -> "_Frontmatter | AgentProblem":
    key_lines = _key_lines(raw)
    try:
        loaded = YAMLHandler().load(raw) if raw.strip() else {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 2}" if mark is not None else "frontmatter"
        reason = getattr(error, "problem", None) or "invalid YAML"
        return _Frontmatter(
            values=_tolerant_values(raw),
            key_lines=key_lines,
            mode=ReadMode.TOLERANT,
            yaml_error=f"{reason} at {where}",
        )
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        return AgentProblem(path=Path(), line=2, message="frontmatter must be 'key: value' lines")
    values = {str(key): value for key, value in loaded.items()}
    return _Frontmatter(values=values, key_lines=key_lines, mode=ReadMode.STRICT, yaml_error=None)


def _tolerant_values(raw: str) -> dict[str, Any]:
    """`key: rest of line` as written; indented `- item` lines under an empty key form a list."""
    values: dict[str, Any] = {}
    current: str | None = None
    for line in raw.splitlines():
        match = _KEY_LINE.match(line)
        if match:
            current = match.group(1)
            value = (match.group(2) or "").strip()
            values.setdefault(current, value if value else None)
            continue
        item = _LIST_ITEM.match(line)
        if item and current is not None and values.get(current) in (None, []):
            values[current] = [*(values.get(current) or []), item.group(1).strip()]
    return values


def _key_lines(raw: str) -> dict[str, int]:
    """Zero-based line index of each top-level key within the frontmatter."""
    lines: dict[str, int] = {}
    for index, line in enumerate(raw.splitlines()):
        match = _KEY_LINE.match(line)
        if match:
            lines.setdefault(match.group(1), index)
    return lines


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)


def _untypable(name: str) -> str:
    """Describe the first character of a name nobody can type in Slack, or ''."""
    for char in name:
        if unicodedata.category(char)[0] in "CZ" and char != " ":
            return f"the invisible character U+{ord(char):04X}"
    return ""


def _at(problem: AgentProblem, path: Path) -> AgentProblem:
    return AgentProblem(path=path, line=problem.line, message=problem.message)


def _fail(
    path: Path, line: int, message: str, earlier: list[AgentProblem] | None = None
) -> ParseResult:
    problem = AgentProblem(path=path, line=line, message=message)
    return ParseResult(agent=None, problems=(*(earlier or []), problem))
