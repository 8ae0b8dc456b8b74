"""Implementation runs: Claude Code builds an approved plan in a sandboxed git worktree and
the run ends in a draft pull request (see README, "Implementation runs").

The engine-facing API is `ImplementationService` (start, follow up, stop, retry, run the jobs);
Claude Code itself is reached only through the optional `claude-agent-sdk` package
(`pip install 'agentdesk[implement]'`).
"""

from bot.implement.availability import implement_extra_missing, sandbox_missing
from bot.implement.service import (
    ImplementationService,
    StartOutcome,
    StartRefusal,
)
from bot.implement.worker import ImplementationWorker

__all__ = [
    "ImplementationService",
    "ImplementationWorker",
    "StartOutcome",
    "StartRefusal",
    "implement_extra_missing",
    "sandbox_missing",
]
