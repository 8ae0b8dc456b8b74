"""One implementation run being worked: the worktree, the set-up step, Claude Code in its
sandbox, the commit, the last check before the push, and the pull or merge request; progress
to the thread all along, the lease kept and Stop watched.

A run cut short by a restart is started again from the branch as last pushed, and after
`MAX_ATTEMPTS` it fails with Retry.
"""

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from bot.config import held_secrets
from bot.engine import card_keeping
from bot.engine.views import ThreadRef, thread_of
from bot.implement.availability import sandbox_missing
from bot.implement.claude_code import (
    AgentBrief,
    ClaudeCodeOutcome,
    ClaudeCodeRequest,
    Progress,
    run_claude_code,
)
from bot.implement.forge import ChangeRequestError, open_or_update_change_request
from bot.implement.isolation import RunIsolation, isolated_run
from bot.implement.leaks import SecretGuard
from bot.implement.run_texts import (
    BODY_PLAN_CHARS,
    latest_plan,
    leak_text,
    plan_text,
    pull_request_body,
    run_prompt,
    tests_line,
    withheld_text,
)
from bot.implement.setup_step import (
    SetupConfigError,
    SetupResult,
    SetupWalls,
    cache_folder,
    find_setup,
    run_setup,
    setup_hosts,
)
from bot.implement.targets import RepoTarget
from bot.implement.worktree import (
    Worktree,
    added_text,
    commit_all,
    create_worktree,
    diff_summary,
    head_commit,
    push,
    remove_worktree,
)
from bot.llm.model_ids import resolve_model
from bot.repos.git import GitError
from bot.repos.sync import RepoSyncError
from bot.store import (
    message_records,
    queue,
    run_records,
)
from bot.store.db import session_scope
from bot.store.models import (
    Conversation,
    ImplementationRun,
    ImplementationStatus,
    MessageKind,
)

if TYPE_CHECKING:
    from bot.implement.service import ImplementationService

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 2  # a run cut short by a restart is started once more, then fails with Retry
_PROGRESS_EVERY_SECONDS = 2.0
_STOP_CHECK_SECONDS = 0.5
_GIT_TIMEOUT = 120.0
_ENDINGS = {
    "max_turns": "it used all {turns} turns it may take (IMPLEMENT_MAX_TURNS)",
    "budget": "it spent its budget of ${cost:.2f} (IMPLEMENT_MAX_COST_USD)",
    "timeout": "it ran out of time ({seconds} s, IMPLEMENT_MAX_SECONDS)",
}


class RunJob:
    """One run being worked: progress to the thread, the lease kept, Stop watched."""

    def __init__(
        self,
        service: "ImplementationService",
        run: ImplementationRun,
        *,
        on_posted: Callable[[int], None],
        on_activity: Callable[[ThreadRef, str], None] | None,
    ) -> None:
        assert run.id is not None
        self.service = service
        self.settings = service.settings
        self.run_row = run
        self.run_id: int = run.id
        self.conversation_id = run.conversation_id
        self.on_posted = on_posted
        self.on_activity = on_activity
        self._lines: list[str] = []
        self._last_flush = time.monotonic()
        self._last_check = 0.0
        self._stop_by: str | None = None
        self._lost = False
        self._lock = threading.Lock()
        self.conversation: Conversation | None = None
        self.guard = SecretGuard(
            held_secrets(
                self.settings,
                token_variables=[m.spec.token_env for m in service.repos if m.spec.token_env],
                environ=service.environ,
            )
        )

    # the steps

    def run(self) -> ImplementationStatus:
        run = self.run_row
        with Session(self.service.engine, expire_on_commit=False) as session:
            self.conversation = session.get(Conversation, self.conversation_id)
        if self.conversation is None:
            return self.finish(ImplementationStatus.CANCELLED, "The conversation is gone.")
        if run.attempts > MAX_ATTEMPTS:
            return self.fail(
                f"The run was interrupted {run.attempts - 1} times (agentdesk restarted) "
                "without finishing."
            )
        if run.attempts > 1:
            self.say(
                "agentdesk restarted while this run was going; starting it again from the "
                "branch as last pushed."
            )
        if run.stop_requested_by:
            return self.stopped(run.stop_requested_by)
        mirror = self.service.repos.get(run.repo)
        targets, _ = self.service.targets()
        target = next((t for t in targets if t.name == run.repo), None)
        if mirror is None or target is None:
            return self.fail(f"The repository `{run.repo}` is no longer set up for runs (REPOS).")
        folder = self.settings.implement_work_dir.expanduser().resolve() / (
            f"{run.repo}-conversation-{self.conversation_id}-run-{self.run_id}"
        )
        try:
            worktree = create_worktree(
                mirror=mirror,
                target=target,
                branch=run.branch,
                folder=folder,
                timeout=_GIT_TIMEOUT,
            )
        except (RepoSyncError, GitError, OSError) as error:
            return self.fail(f"I couldn't prepare a worktree of {run.repo}: {error}")
        try:
            with isolated_run(
                settings=self.settings,
                worktree=worktree.path,
                mirror_root=mirror.root,
                api_key=self.settings.anthropic_api_key.get_secret_value()
                if self.settings.anthropic_api_key
                else None,
            ) as isolation:
                return self._work_in(worktree, target, isolation)
        finally:
            try:
                remove_worktree(mirror_root=mirror.root, path=worktree.path, timeout=_GIT_TIMEOUT)
            except (GitError, OSError):
                log.warning("could not remove worktree %s", worktree.path, exc_info=True)

    def _work_in(
        self, worktree: Worktree, target: RepoTarget, isolation: RunIsolation
    ) -> ImplementationStatus:
        run = self.run_row
        conversation = self.conversation
        assert conversation is not None
        with Session(self.service.engine, expire_on_commit=False) as session:
            self._set(session, base_branch=worktree.base_branch)
        agent = self.service.registry.roster().get(conversation.agent or "")
        if agent is None:
            return self.fail("The conversation's agent is no longer loaded.")
        no_sandbox = sandbox_missing()
        if no_sandbox:
            self.say(f"Commands are refused in this run: {no_sandbox}. Tests will not be run.")
        setup = self._set_up(worktree, isolation) if no_sandbox is None else None
        self.activity("is implementing the plan…")
        outcome = run_claude_code(
            ClaudeCodeRequest(
                workdir=worktree.path,
                isolation=isolation,
                prompt=run_prompt(run, worktree, first=not worktree.branch_existed),
                agent=AgentBrief(
                    name=agent.name,
                    description=agent.description,
                    prompt=agent.body,
                    tools=None if agent.allows_all_tools else agent.tools,
                    model=resolve_model(agent.model, settings=self.settings),
                ),
                max_turns=self.settings.implement_max_turns,
                max_cost_usd=self.settings.implement_max_cost_usd,
                max_seconds=self.settings.implement_max_seconds,
                sandboxed=no_sandbox is None,
                redact=self.guard.redact,
            ),
            on_progress=self.progress,
            should_stop=self.should_stop,
        )
        self.flush_progress(force=True)
        with Session(self.service.engine, expire_on_commit=False) as session:
            self._set(
                session,
                turns=outcome.turns,
                cost_usd=outcome.cost_usd,
                tests_run=any(c.looks_like_tests for c in outcome.commands),
            )
        if self._lost:
            return ImplementationStatus.RUNNING  # another worker owns the run now
        if self.service.shutting_down.is_set() and outcome.ending == "stopped":
            return self.hand_back()
        if outcome.ending == "stopped":
            return self.stopped(outcome.stopped_by or self._stop_by or "someone")
        if outcome.ending in _ENDINGS:
            reason = _ENDINGS[outcome.ending].format(
                turns=self.settings.implement_max_turns,
                cost=self.settings.implement_max_cost_usd,
                seconds=self.settings.implement_max_seconds,
            )
            return self.fail(
                f"Claude Code stopped before finishing: {reason}. Nothing was pushed.",
                retry=True,
            )
        if outcome.ending == "error":
            return self.fail(f"Claude Code could not finish: {outcome.error}")
        return self._deliver(
            worktree,
            target,
            outcome,
            sandboxed=no_sandbox is None,
            isolation=isolation,
            setup=setup,
        )

    def _set_up(self, worktree: Worktree, isolation: RunIsolation) -> SetupResult | None:
        """Run the repository's set-up step (or reuse its last result) before the agent."""
        settings = self.settings
        try:
            plan = find_setup(self.run_row.repo, worktree.path, setting=settings.implement_setup)
        except SetupConfigError as error:
            self.say(f"No set-up step: {error}.")
            return None
        if plan is None:
            return None
        self.activity("is setting up the environment…")
        result = run_setup(
            plan,
            repo=self.run_row.repo,
            worktree=worktree.path,
            walls=SetupWalls(
                hidden=tuple(Path(place) for place in isolation.deny_read),
                private=isolation.folder,
                readable=tuple(Path(place) for place in isolation.allow_read[1:2]),
                extra_hosts=setup_hosts(settings.implement_setup_hosts),
                timeout_seconds=settings.implement_setup_seconds,
            ),
            cache_dir=cache_folder(settings.implement_work_dir),
        )
        with isolation.excludes_file.open("a", encoding="utf-8") as excludes:
            excludes.writelines(f"/{name}\n" for name in result.left)  # never committed
        tail = self.guard.redact(result.output.strip()[-1500:])
        self.say(result.line() + (f"\n```\n{tail}\n```" if tail and not result.ok else ""))
        return result

    def _deliver(
        self,
        worktree: Worktree,
        target: RepoTarget,
        outcome: ClaudeCodeOutcome,
        *,
        sandboxed: bool,
        isolation: RunIsolation,
        setup: SetupResult | None,
    ) -> ImplementationStatus:
        run = self.run_row
        conversation = self.conversation
        assert conversation is not None
        title = conversation.title or f"Conversation {self.conversation_id}"
        message = f"{title}\n\nImplemented by agentdesk (conversation {self.conversation_id})" + (
            f": {run.thread_url}" if run.thread_url else "."
        )
        try:
            commit = commit_all(
                worktree=worktree,
                message=message[:2000],
                excludes_file=isolation.excludes_file,
                timeout=_GIT_TIMEOUT,
            )
            change = diff_summary(
                worktree=worktree, since=worktree.start_commit, timeout=_GIT_TIMEOUT
            )
            whole = diff_summary(
                worktree=worktree, since=worktree.base_commit, timeout=_GIT_TIMEOUT
            )
            if not change.commits and not worktree.branch_existed:
                return self.finish(
                    ImplementationStatus.SUCCEEDED,
                    "Claude Code finished without changing any file, so there is no "
                    f"{target.forge.request_noun}."
                    + withheld_text(commit.withheld)
                    + (f"\n\n{outcome.summary}" if outcome.summary else ""),
                )
            findings = [
                finding
                for where, text in added_text(
                    worktree=worktree, since=worktree.start_commit, timeout=_GIT_TIMEOUT
                )
                for finding in self.guard.findings(text, where=where)
            ]
            if findings:
                return self.fail(leak_text(findings), retry=False)
            self.activity("is pushing the branch…")
            if change.commits:
                push(worktree=worktree, target=target, timeout=_GIT_TIMEOUT)
            head = head_commit(worktree=worktree, timeout=_GIT_TIMEOUT)
        except GitError as error:
            return self.fail(f"I couldn't commit or push the change: {error}")
        if self.should_stop():
            return self.stopped(self._stop_by or "someone", pushed=bool(change.commits))
        body = pull_request_body(
            plan=self._plan_for_body(),
            summary=outcome.summary,
            diff=whole.short if whole.files else change.short,
            outcome=outcome,
            sandboxed=sandboxed,
            thread_url=run.thread_url,
            withheld=commit.withheld,
            setup=setup,
        )
        try:
            request = open_or_update_change_request(
                settings=self.settings,
                target=target,
                token=target.token(self.service.environ),
                branch=worktree.branch,
                base=worktree.base_branch,
                title=self.guard.redact(title)[:250],
                body=self.guard.redact(body),
            )
        except ChangeRequestError as error:
            return self.fail(
                f"The branch is pushed, but the {target.forge.request_noun} failed: {error}"
            )
        with session_scope(self.service.engine) as session:
            self._set(session, head_commit=head, pr_number=request.number, pr_url=request.url)
        tests = tests_line(outcome, sandboxed=sandboxed)
        verb = f"Opened draft {request.noun}" if request.created else f"Updated {request.noun}"
        return self.finish(
            ImplementationStatus.SUCCEEDED,
            f"{verb} {request.reference}: {request.url}\n"
            f"{change.short if change.files else 'No new changes.'} "
            f"({change.commits} new commit{'s' if change.commits != 1 else ''}). {tests}"
            + withheld_text(commit.withheld),
            payload={"pr_url": request.url, "pr_number": request.number},
        )

    # progress, stop and the lease

    def progress(self, event: Progress) -> None:
        with self._lock:
            self._lines.append(f"• {event.text}")
        if event.kind in ("read", "edit", "command"):
            self.activity(f"{event.text[:80]}")
        self.flush_progress(force=event.kind == "result")

    def flush_progress(self, *, force: bool = False) -> None:
        with self._lock:
            due = force or time.monotonic() - self._last_flush >= _PROGRESS_EVERY_SECONDS
            if not self._lines or not due:
                return
            lines, self._lines = self._lines, []
            self._last_flush = time.monotonic()
        self.say("\n".join(lines)[:3500], progress=True)

    def should_stop(self) -> str | None:
        if self.service.shutting_down.is_set():
            return "agentdesk shutting down"
        now = time.monotonic()
        if self._stop_by is not None or self._lost:
            return self._stop_by or "a restart"
        if now - self._last_check < _STOP_CHECK_SECONDS:
            return None
        self._last_check = now
        held = queue.renew(
            engine=self.service.engine,
            table=ImplementationRun,
            worker=self.service.worker_id,
            row_ids=[self.run_id],
            lease=timedelta(seconds=self.settings.turn_lease_seconds),
        )
        renewed = self._fresh_run() if held else None
        if renewed is None:
            self._lost = True
            return "a restart"
        if renewed.stop_requested_by:
            self._stop_by = renewed.stop_requested_by
        else:
            conversation = self._fresh_conversation()
            if conversation is not None and conversation.status.value == "cancelled":
                self._stop_by = "the conversation's Cancel"
        return self._stop_by

    def activity(self, text: str) -> None:
        if self.on_activity is not None and self.conversation is not None:
            try:
                self.on_activity(thread_of(conversation=self.conversation), text)
            except Exception:
                log.warning("showing the run's activity failed", exc_info=True)

    # endings

    def hand_back(self) -> ImplementationStatus:
        if queue.hand_back(
            engine=self.service.engine,
            table=ImplementationRun,
            worker=self.service.worker_id,
            row_id=self.run_id,
        ):
            self.say(
                "The process working this run is stopping; the run goes back to the queue and "
                "starts again in the next process that takes runs."
            )
        return ImplementationStatus.QUEUED

    def stopped(self, by: str, *, pushed: bool = False) -> ImplementationStatus:
        note = "The pushed branch stays; no pull request was opened." if pushed else ""
        return self.finish(
            ImplementationStatus.CANCELLED,
            f"Stopped by {by}. " + (note or "Nothing was pushed."),
            retry=True,
        )

    def fail(
        self, reason: str, *, detail: str | None = None, retry: bool = True
    ) -> ImplementationStatus:
        return self.finish(ImplementationStatus.FAILED, reason, retry=retry, detail=detail)

    def finish(
        self,
        status: ImplementationStatus,
        text: str,
        *,
        retry: bool = False,
        detail: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> ImplementationStatus:
        text, detail = self.guard.redact(text), self.guard.redact(detail) if detail else None
        with session_scope(self.service.engine) as session:
            run_records.finish_implementation_run(
                session=session, run_id=self.run_id, status=status, outcome=detail or text
            )
            conversation = session.get(Conversation, self.conversation_id)
            if conversation is not None:  # the card shows the run's end (a pull request open)
                card_keeping.refresh(
                    session,
                    conversation,
                    settings=self.service.settings,
                    repos=self.service.repos,
                )
            message_records.add_assistant_message(
                session=session,
                conversation_id=self.conversation_id,
                kind=MessageKind.FAILURE
                if status is ImplementationStatus.FAILED
                else MessageKind.NOTICE,
                text=text
                + (" Press Retry to run it again." if retry and "Retry" not in text else ""),
                payload={
                    "implementation_run": self.run_id,
                    "retryable": retry,
                    "reason": text,
                    **(payload or {}),
                },
            )
        self.on_posted(self.conversation_id)
        return status

    def say(self, text: str, *, progress: bool = False) -> None:
        text = self.guard.redact(text)
        with session_scope(self.service.engine) as session:
            message_records.add_assistant_message(
                session=session,
                conversation_id=self.conversation_id,
                kind=MessageKind.NOTICE,
                text=text,
                payload={"implementation_run": self.run_id, "progress": progress},
            )
        self.on_posted(self.conversation_id)

    # helpers

    def _set(self, session: Session, **values: Any) -> None:
        row = session.get(ImplementationRun, self.run_id)
        if row is None:
            return
        for key, value in values.items():
            setattr(row, key, value)
        session.add(row)
        session.commit()

    def _fresh_conversation(self) -> Conversation | None:
        with Session(self.service.engine, expire_on_commit=False) as session:
            return session.get(Conversation, self.conversation_id)

    def _fresh_run(self) -> ImplementationRun | None:
        with Session(self.service.engine, expire_on_commit=False) as session:
            return session.get(ImplementationRun, self.run_id)

    def _plan_for_body(self) -> str:
        """The signed-off card and the plan, for the pull request's body."""
        with Session(self.service.engine) as session:
            plan = latest_plan(session, self.conversation_id)
            text = plan_text(plan) if plan is not None else self.run_row.instructions
            card = card_keeping.signed_off_text(session, self.conversation_id)
        if card:
            text = f"{card}\n\n---\n\n{text}"
        return text[:BODY_PLAN_CHARS]
