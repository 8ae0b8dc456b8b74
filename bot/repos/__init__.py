"""Read-only views of configured repositories for agents whose `tools:` allow it."""

from bot.repos.definitions import REPO_TOOL_NAMES, repo_tool_names, tool_definitions
from bot.repos.limits import DEFAULT_LIMITS, ToolLimits
from bot.repos.repo_set import RepoSet, build_repo_set
from bot.repos.spec import RepoConfigError, RepoSpec, parse_repo_specs
from bot.repos.sync import RepoMirror, RepoSnapshot, RepoSyncError, RepoUnavailableError
from bot.repos.tools import RepoTools, ToolResult

__all__ = [
    "DEFAULT_LIMITS",
    "REPO_TOOL_NAMES",
    "RepoConfigError",
    "RepoMirror",
    "RepoSet",
    "RepoSnapshot",
    "RepoSpec",
    "RepoSyncError",
    "RepoTools",
    "RepoUnavailableError",
    "ToolLimits",
    "ToolResult",
    "build_repo_set",
    "parse_repo_specs",
    "repo_tool_names",
    "tool_definitions",
]
