"""Implementation runs: Claude Code builds an approved plan in a sandboxed git worktree and
the run ends in a draft pull request (see docs/implementation.md).

The engine-facing API is `ImplementationService` (start, follow up, stop, retry, run the jobs);
Claude Code itself is reached only through the optional `claude-agent-sdk` package
(`pip install 'agentdesk[implement]'`).
"""

from bot.implement.availability import implement_extra_missing, sandbox_missing
from bot.implement.run_threads import ImplementationWorker
from bot.implement.service import (
    ImplementationService,
    StartOutcome,
    StartRefusal,
    build_implementation_service,
)

__all__ = [
    "ImplementationService",
    "ImplementationWorker",
    "StartOutcome",
    "StartRefusal",
    "build_implementation_service",
    "implement_extra_missing",
    "sandbox_missing",
]
