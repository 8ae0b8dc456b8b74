"""The repository tools as the model sees them, and which agents get which.

Claude Code's tool names decide: `Glob` gives `list_files`, `Read` gives `read_file`, `Grep`
gives `search_code`. An agent with no `tools:` line, or with `*`, gets all three; one whose
list names none of them gets none; with no repository configured nobody gets any.
"""

from collections.abc import Sequence
from typing import Any

from bot.repos.limits import DEFAULT_LIMITS, ToolLimits

LIST_FILES = "list_files"
READ_FILE = "read_file"
SEARCH_CODE = "search_code"

# Claude Code tool name → our tool, in the order the definitions are offered.
CLAUDE_CODE_NAMES: dict[str, str] = {"Glob": LIST_FILES, "Read": READ_FILE, "Grep": SEARCH_CODE}
REPO_TOOL_NAMES: tuple[str, ...] = tuple(CLAUDE_CODE_NAMES.values())


def repo_tool_names(agent_tools: Sequence[str] | None) -> list[str]:
    """The repository tools an agent may use, given its `tools:` list (None: no list)."""
    if agent_tools is None or "*" in agent_tools:
        return list(REPO_TOOL_NAMES)
    allowed = {name.strip() for name in agent_tools}
    return [ours for theirs, ours in CLAUDE_CODE_NAMES.items() if theirs in allowed]


def tool_definitions(
    *,
    agent_tools: Sequence[str] | None,
    repo_names: Sequence[str],
    limits: ToolLimits = DEFAULT_LIMITS,
) -> list[dict[str, Any]]:
    """Anthropic tool definitions (name, description, input_schema) the agent may call."""
    if not repo_names:
        return []
    builders = {LIST_FILES: _list_files, READ_FILE: _read_file, SEARCH_CODE: _search_code}
    return [builders[name](list(repo_names), limits) for name in repo_tool_names(agent_tools)]


def _repo_property(repo_names: list[str]) -> dict[str, Any]:
    return {
        "type": "string",
        "enum": repo_names,
        "description": "Which repository: " + ", ".join(repo_names) + ".",
    }


def _list_files(repo_names: list[str], limits: ToolLimits) -> dict[str, Any]:
    return {
        "name": LIST_FILES,
        "description": (
            "List files in a repository whose paths match a glob pattern, sorted by path. "
            "Read-only; shows the default branch as last fetched and names the commit. "
            "A pattern without `/` matches file names at any depth (`*.py`, `Dockerfile`); "
            "with `/` it matches from the root (`src/**/*.ts`, `docs/*.md`); `**` spans "
            "folders and `{a,b}` gives alternatives. Files ignored by .gitignore, git's "
            "internals and secret files are never listed."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "repo": _repo_property(repo_names),
                "pattern": {
                    "type": "string",
                    "description": "Glob pattern; default `**/*` (every file).",
                },
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "description": f"Most paths to return (default {limits.list_default}).",
                },
            },
            "required": ["repo"],
        },
    }


def _read_file(repo_names: list[str], limits: ToolLimits) -> dict[str, Any]:
    return {
        "name": READ_FILE,
        "description": (
            "Read a text file from a repository, with line numbers (like `cat -n`). "
            f"Returns up to {limits.read_lines} lines per call; for longer files, call again with "
            "`start_line` as the result says. Binary files are described, not shown. "
            "Paths are relative to the repository root, e.g. `src/app.py`."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "repo": _repo_property(repo_names),
                "path": {"type": "string", "description": "File path from the repository root."},
                "start_line": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "First line to show (default 1).",
                },
                "end_line": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Last line to show (default: as many as fit).",
                },
            },
            "required": ["repo", "path"],
        },
    }


def _search_code(repo_names: list[str], limits: ToolLimits) -> dict[str, Any]:
    return {
        "name": SEARCH_CODE,
        "description": (
            "Search a repository's files for a regular expression; returns matching lines as "
            "`path:line: text`, in path order. The pattern matches within one line "
            "(ripgrep/Python syntax: escape `(`, `.`, `{` to match them literally). Narrow "
            "it with `path_glob` (`*.py`, `src/**/*.ts`). Ignored, binary and secret files "
            "are skipped."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "repo": _repo_property(repo_names),
                "pattern": {"type": "string", "description": "Regular expression to find."},
                "path_glob": {
                    "type": "string",
                    "description": "Only search files whose path matches this glob.",
                },
                "ignore_case": {
                    "type": "boolean",
                    "description": "Match regardless of case (default false).",
                },
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "description": f"Most matching lines to return (default {limits.search_default}).",
                },
            },
            "required": ["repo", "pattern"],
        },
    }
