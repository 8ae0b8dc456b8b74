"""What Claude Code may do in a run: file tools confined to the worktree, commands in its
bubblewrap sandbox (no network, no writes outside the worktree, agentdesk's files hidden), and
no web tools."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Tools a run never gets: the web, scheduling, leaving the worktree, remote triggers.
DISALLOWED_TOOLS = (
    "WebFetch",
    "WebSearch",
    "CronCreate",
    "CronDelete",
    "CronList",
    "ScheduleWakeup",
    "EnterWorktree",
    "ExitWorktree",
    "RemoteTrigger",
)

# Tools that take a path, and the input keys that hold it.
_PATH_KEYS = {
    "Read": ("file_path",),
    "Edit": ("file_path",),
    "MultiEdit": ("file_path",),
    "Write": ("file_path",),
    "NotebookEdit": ("notebook_path",),
    "Glob": ("path",),
    "Grep": ("path",),
}
EDIT_TOOLS = frozenset({"Edit", "MultiEdit", "Write", "NotebookEdit"})


def sandbox_settings(*, deny_read: Sequence[str], allow_read: Sequence[str]) -> dict[str, Any]:
    """Claude Code's sandbox for Bash: on, no escape hatch, no network at all, and nothing
    readable in `deny_read` but what `allow_read` gives back."""
    return {
        "enabled": True,
        "autoAllowBashIfSandboxed": True,
        "allowUnsandboxedCommands": False,
        "network": {"allowLocalBinding": False, "allowUnixSockets": []},
        "filesystem": {"denyRead": list(deny_read), "allowRead": list(allow_read)},
    }


def outside_worktree(tool_name: str, tool_input: dict[str, Any], *, root: Path) -> str | None:
    """The path a file tool would touch outside `root`, or None when it stays inside."""
    for key in _PATH_KEYS.get(tool_name, ()):
        value = tool_input.get(key)
        if not isinstance(value, str) or not value:
            continue
        path = Path(value) if Path(value).is_absolute() else root / value
        resolved = path.resolve()
        if resolved != root and root not in resolved.parents:
            return value
        if tool_name in EDIT_TOOLS and ".git" in resolved.relative_to(root).parts:
            return value  # the repository's own metadata is ours, not the agent's
    return None
