"""Claude Code's own agent loop, through claude-agent-sdk, working in one worktree.

The agent file becomes the session's agent (`--agent`): its body is the system prompt and its
`tools:` and `model:` hold. Budgets: turns and cost go to Claude Code itself; wall time and a
person's Stop are watched here and end the session with an interrupt.
"""

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.implement.isolation import RunIsolation
from bot.implement.sandbox import (
    DISALLOWED_TOOLS,
    EDIT_TOOLS,
    outside_worktree,
    sandbox_settings,
)

log = logging.getLogger(__name__)

_WATCH_SECONDS = 0.2
_INTERRUPT_GRACE_SECONDS = 10.0
_OUTPUT_TAIL_CHARS = 400
_SYSTEM_REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.DOTALL)
_TEST_WORDS = ("test", "pytest", "unittest", "check", "make", "tox", "nox", "npm", "go ", "cargo")


@dataclass(frozen=True)
class AgentBrief:
    """The agent file, as Claude Code's agent definition wants it."""

    name: str
    description: str
    prompt: str
    tools: list[str] | None
    model: str


@dataclass(frozen=True)
class ClaudeCodeRequest:
    """Everything one session needs."""

    workdir: Path
    isolation: RunIsolation
    prompt: str
    agent: AgentBrief
    max_turns: int
    max_cost_usd: float
    max_seconds: float
    sandboxed: bool  # False: the sandbox cannot start here, so no commands run at all
    redact: Callable[[str], str] = str  # blanks secrets out of what is shown or logged


@dataclass(frozen=True)
class Progress:
    """One thing Claude Code did, for the thread."""

    kind: str  # read | edit | command | result | refused | note
    text: str


@dataclass(frozen=True)
class CommandRecord:
    """A command Claude Code ran and how it ended."""

    command: str
    ok: bool
    output: str

    @property
    def looks_like_tests(self) -> bool:
        """Whether the command runs a test suite or a check."""
        lowered = self.command.lower()
        return any(word in lowered for word in _TEST_WORDS)


@dataclass
class ClaudeCodeOutcome:
    """How a session ended and what it did."""

    ending: str = "completed"  # completed | max_turns | budget | timeout | stopped | error
    summary: str = ""
    turns: int = 0
    cost_usd: float = 0.0
    commands: list[CommandRecord] = field(default_factory=list)
    files_read: list[str] = field(default_factory=list)
    files_edited: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    error: str | None = None
    stopped_by: str | None = None


ShouldStop = Callable[[], str | None]  # who asked to stop, or None


def run_claude_code(
    request: ClaudeCodeRequest,
    *,
    on_progress: Callable[[Progress], None],
    should_stop: ShouldStop,
) -> ClaudeCodeOutcome:
    """Run one Claude Code session to its end (in this thread's own event loop)."""
    return asyncio.run(_run(request, on_progress=on_progress, should_stop=should_stop))


async def _run(
    request: ClaudeCodeRequest, *, on_progress: Callable[[Progress], None], should_stop: ShouldStop
) -> ClaudeCodeOutcome:
    from claude_agent_sdk import (  # the optional extra: imported only when a run starts
        AgentDefinition,
        AssistantMessage,
        ClaudeAgentOptions,
        ClaudeSDKClient,
        HookMatcher,
        PermissionResultDeny,
        ResultMessage,
        TextBlock,
        ToolResultBlock,
        ToolUseBlock,
        UserMessage,
    )

    root = request.workdir.resolve()
    outcome = ClaudeCodeOutcome()
    pending: dict[str, tuple[str, dict[str, Any]]] = {}

    async def confine(hook_input: Any, tool_use_id: str | None, context: Any) -> Any:
        name = str(hook_input.get("tool_name", ""))
        tool_input = hook_input.get("tool_input") or {}
        outside = outside_worktree(name, tool_input, root=root)
        reason = None
        if outside is not None:
            reason = f"{name} outside the worktree is not allowed: {outside}"
        elif name == "Bash" and not request.sandboxed:
            reason = "commands are refused: the sandbox cannot start on this machine"
        if reason is None:
            return {}
        outcome.refusals.append(reason)
        on_progress(Progress("refused", reason))
        return {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": reason,
            }
        }

    async def refuse_the_rest(name: str, tool_input: dict[str, Any], context: Any) -> Any:
        # Anything that would prompt a person (nobody is at this terminal) is refused.
        reason = f"{name} needs a permission nobody can give in an implementation run"
        outcome.refusals.append(reason)
        return PermissionResultDeny(message=reason)

    agent, isolation = request.agent, request.isolation
    disallowed = list(DISALLOWED_TOOLS) + ([] if request.sandboxed else ["Bash"])
    options = ClaudeAgentOptions(
        cwd=str(root),
        agents={
            agent.name: AgentDefinition(
                description=agent.description,
                prompt=agent.prompt,
                tools=agent.tools,
                model=agent.model,
            )
        },
        extra_args={"agent": agent.name},
        model=agent.model,
        permission_mode="acceptEdits",
        can_use_tool=refuse_the_rest,
        hooks={"PreToolUse": [HookMatcher(matcher=None, hooks=[confine])]},
        disallowed_tools=disallowed,
        setting_sources=[],
        max_turns=request.max_turns,
        max_budget_usd=request.max_cost_usd,
        sandbox=sandbox_settings(  # type: ignore[arg-type]
            deny_read=isolation.deny_read, allow_read=isolation.allow_read
        )
        if request.sandboxed
        else None,
        settings=json.dumps(isolation.settings),
        cli_path=isolation.cli_path,
        env=isolation.launcher_variables,
        stderr=lambda line: log.debug("claude code: %s", request.redact(line)),
    )
    deadline = time.monotonic() + request.max_seconds
    stop_reason: list[str] = []

    async def watch(client: Any) -> None:
        while True:
            await asyncio.sleep(_WATCH_SECONDS)
            by = should_stop()
            if by is not None:
                stop_reason.append("stopped")
                outcome.stopped_by = by
            elif time.monotonic() > deadline:
                stop_reason.append("timeout")
            if stop_reason:
                with contextlib.suppress(Exception):
                    await client.interrupt()
                return

    try:
        async with ClaudeSDKClient(options=options) as client:
            watcher = asyncio.create_task(watch(client))
            try:
                await client.query(request.prompt)
                async with asyncio.timeout(request.max_seconds + _INTERRUPT_GRACE_SECONDS):
                    async for message in client.receive_response():
                        if isinstance(message, AssistantMessage):
                            for block in message.content:
                                if isinstance(block, ToolUseBlock):
                                    pending[block.id] = (block.name, dict(block.input))
                                    _announce(block.name, block.input, root, outcome, on_progress)
                                elif isinstance(block, TextBlock) and block.text.strip():
                                    outcome.summary = block.text.strip()
                        elif isinstance(message, UserMessage) and isinstance(message.content, list):
                            for item in message.content:
                                if isinstance(item, ToolResultBlock):
                                    _record_result(item, pending, outcome, on_progress)
                        elif isinstance(message, ResultMessage):
                            outcome.turns = message.num_turns
                            outcome.cost_usd = float(message.total_cost_usd or 0.0)
                            outcome.ending = _ending(message)
                            if message.result:
                                outcome.summary = message.result.strip()
                            if message.is_error and outcome.ending == "completed":
                                outcome.ending = "error"
                                outcome.error = "; ".join(message.errors or []) or (
                                    message.result or "Claude Code reported an error"
                                )
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
    except TimeoutError:
        stop_reason.append("timeout")
    except Exception as error:  # the CLI died or could not start: the run fails readably
        log.exception("claude code session failed")
        outcome.ending = "error"
        outcome.error = f"{type(error).__name__}: {error}"[:500]
    if stop_reason:
        outcome.ending = stop_reason[0]
    return outcome


def _ending(result: Any) -> str:
    subtype = str(result.subtype or "")
    if subtype == "error_max_turns" or result.terminal_reason == "max_turns":
        return "max_turns"
    if subtype == "error_max_budget_usd":
        return "budget"
    if str(result.terminal_reason or "").startswith("aborted"):
        return "stopped"
    return "completed"


def _announce(
    name: str,
    tool_input: dict[str, Any],
    root: Path,
    outcome: ClaudeCodeOutcome,
    on_progress: Callable[[Progress], None],
) -> None:
    path = str(tool_input.get("file_path") or tool_input.get("notebook_path") or "")
    shown = _relative(path, root)
    if name == "Read" and path:
        outcome.files_read.append(shown)
        on_progress(Progress("read", f"read `{shown}`"))
    elif name in EDIT_TOOLS and path:
        on_progress(Progress("edit", f"{'wrote' if name == 'Write' else 'edited'} `{shown}`"))
    elif name == "Bash":
        on_progress(Progress("command", f"ran `{str(tool_input.get('command', ''))[:200]}`"))
    elif name in ("Glob", "Grep"):
        on_progress(Progress("read", f"searched `{tool_input.get('pattern', '')}`"))


def _record_result(
    item: Any,
    pending: dict[str, tuple[str, dict[str, Any]]],
    outcome: ClaudeCodeOutcome,
    on_progress: Callable[[Progress], None],
) -> None:
    name, tool_input = pending.pop(item.tool_use_id, ("", {}))
    text = _text_of(item.content)
    failed = bool(item.is_error) or text.startswith("Exit code")
    if name in EDIT_TOOLS and not item.is_error:
        path = str(tool_input.get("file_path") or tool_input.get("notebook_path") or "")
        if path and path not in outcome.files_edited:
            outcome.files_edited.append(path)
    if name == "Bash":
        command = str(tool_input.get("command", ""))
        tail = text.strip()[-_OUTPUT_TAIL_CHARS:]
        # A suite piped through `tail` exits 0 when it fails: its own summary line decides.
        failed = failed or suite_verdict(tail) is False
        outcome.commands.append(CommandRecord(command=command, ok=not failed, output=tail))
        last = tail.splitlines()[-1] if tail else "(no output)"
        on_progress(Progress("result", f"{'✓' if not failed else '✗'} `{command[:120]}`: {last}"))


_FAILED_SUMMARIES = re.compile(
    r"^FAILED \(|\b[1-9]\d* (failed|errors?)\b|^FAIL\b|test result: FAILED",
    re.M,
)
_PASSED_SUMMARIES = re.compile(
    r"^OK\b|\b\d+ passed\b|^Tests:.*\bpassed\b|^ok\s|test result: ok", re.M
)


def suite_verdict(output: str) -> bool | None:
    """What a test run's own summary says (unittest, pytest, Jest, go test, cargo test):
    True passed, False failed, None when the output holds no summary."""
    if _FAILED_SUMMARIES.search(output):
        return False
    if _PASSED_SUMMARIES.search(output):
        return True
    return None


def _text_of(content: Any) -> str:
    """A tool result's text, without Claude Code's own notes to the model (budget, reminders)."""
    if isinstance(content, list):
        content = "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return _SYSTEM_REMINDER.sub("", content).strip() if isinstance(content, str) else ""


def _relative(path: str, root: Path) -> str:
    if not path or not Path(path).is_absolute():
        return path
    with contextlib.suppress(ValueError):
        return str(Path(path).resolve().relative_to(root))
    return path
