"""Implementation runs as durable jobs: who may start one, the stored job, and running it.

A run is a row in `implementation_run`, claimed under a lease like an agent turn. A process
that dies mid-run leaves the lease to expire; the next claim starts the run again from the
branch as last pushed (Claude Code's session is not carried over), and after
`MAX_ATTEMPTS` the run fails with Retry. Whatever happens, the pull request is looked up by
its branch before one is opened, so a conversation never gets two.
"""

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.agents.registry import AgentRegistry
from bot.config import Settings, held_secrets, split_ids
from bot.engine import card_keeping
from bot.engine.desk import Desk
from bot.engine.identity import is_dead, process_id
from bot.engine.views import ThreadRef, thread_of
from bot.implement.availability import implement_extra_missing, sandbox_missing
from bot.implement.claude_code import (
    AgentBrief,
    ClaudeCodeOutcome,
    ClaudeCodeRequest,
    Progress,
    run_claude_code,
)
from bot.implement.forge import ChangeRequestError, open_or_update_change_request
from bot.implement.isolation import RunIsolation, isolated_run
from bot.implement.leaks import Finding, SecretGuard
from bot.implement.setup_step import (
    SetupConfigError,
    SetupResult,
    SetupWalls,
    find_setup,
    run_setup,
    setup_hosts,
)
from bot.implement.targets import (
    RepoTarget,
    TargetError,
    parse_github_repos,
    parse_gitlab_projects,
    target_for,
)
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
from bot.repos import RepoSet, build_repo_set
from bot.repos.git import GitError
from bot.repos.sync import RepoSyncError
from bot.store import (
    channels,
    conversation_records,
    message_records,
    queue,
    run_records,
    seen_events,
)
from bot.store.db import session_scope
from bot.store.models import (
    Conversation,
    ConversationStatus,
    ImplementationRun,
    ImplementationStatus,
    Message,
    MessageKind,
)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 2  # a run cut short by a restart is started once more, then fails with Retry
BRANCH_PREFIX = "agentdesk/conversation-"
_PROGRESS_EVERY_SECONDS = 2.0
_STOP_CHECK_SECONDS = 0.5
_GIT_TIMEOUT = 120.0
_BODY_PLAN_CHARS = 30_000
_ENDINGS = {
    "max_turns": "it used all {turns} turns it may take (IMPLEMENT_MAX_TURNS)",
    "budget": "it spent its budget of ${cost:.2f} (IMPLEMENT_MAX_COST_USD)",
    "timeout": "it ran out of time ({seconds} s, IMPLEMENT_MAX_SECONDS)",
}


@dataclass(frozen=True)
class StartOutcome:
    """What came of asking for a run: started, or why not (said to the person)."""

    started: bool
    message: str
    run_id: int | None = None
    repo_choices: list[str] = field(default_factory=list)  # ask which repository
    duplicate: bool = False  # the same click or message again: say nothing


StartRefusal = StartOutcome  # a refusal is an outcome with started=False


def build_implementation_service(desk: Desk) -> "ImplementationService":
    """Implementation runs over the desk's database, agents and repositories."""
    return ImplementationService(
        settings=desk.settings,
        engine=desk.engine,
        registry=desk.registry,
        repos=desk.repo_set() or build_repo_set(desk.settings),
    )


class ImplementationService:
    """Starts, follows up, stops and runs implementation runs. Knows no Slack."""

    def __init__(
        self,
        *,
        settings: Settings,
        engine: Engine,
        registry: AgentRegistry,
        repos: RepoSet,
        environ: Mapping[str, str] | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.registry = registry
        self.repos = repos
        self.environ = environ
        self.worker_id = worker_id or process_id()
        self.shutting_down = threading.Event()  # set: running sessions end and are handed back

    # Who may, and where ----------------------------------------------------------------------

    def enabled_in(self, *, team_id: str, channel_id: str) -> bool:
        """Whether runs may start in this channel (IMPLEMENT_ENABLED, or the channel said on)."""
        if self.settings.implement_enabled:
            return True
        with Session(self.engine) as session:
            setting = channels.implement_channel(
                session=session, team_id=team_id, channel_id=channel_id
            )
            return bool(setting and setting.enabled)

    def set_channel(self, *, team_id: str, channel_id: str, enabled: bool) -> None:
        """Turn runs on or off for one channel (`/feature channel implement on|off`)."""
        with session_scope(self.engine) as session:
            channels.save_implement_channel(
                session=session, team_id=team_id, channel_id=channel_id, enabled=enabled
            )

    def approvers(self) -> frozenset[str]:
        """IMPLEMENT_APPROVERS as a set of user ids."""
        return split_ids(self.settings.implement_approvers)

    def may_approve(self, *, conversation: Conversation, user_id: str) -> bool:
        """The requester (when no approvers are set) or a configured approver."""
        approvers = self.approvers()
        return user_id in approvers if approvers else user_id == conversation.requester_id

    def targets(self) -> tuple[list[RepoTarget], list[str]]:
        """The repositories runs can push to, and why the others can't."""
        try:
            github_repos = parse_github_repos(self.settings.implement_github_repos)
            gitlab_projects = parse_gitlab_projects(self.settings.implement_gitlab_projects)
        except TargetError as error:
            return [], [str(error)]
        found, problems = [], []
        for mirror in self.repos:
            try:
                found.append(target_for(mirror.spec, github_repos, gitlab_projects))
            except TargetError as error:
                problems.append(str(error))
        return found, problems

    # Starting ------------------------------------------------------------------------------

    def start_implementation(
        self,
        *,
        conversation_id: int,
        user_id: str,
        user_name: str,
        repo: str | None = None,
        thread_url: str | None = None,
        event_keys: tuple[str, ...] = (),
    ) -> StartOutcome:
        """Queue a run of the conversation's plan, or say why not."""
        missing = implement_extra_missing()
        if missing:
            return StartOutcome(False, missing)
        with session_scope(self.engine) as session:
            conversation = session.get(Conversation, conversation_id)
            if conversation is None or conversation.id is None:
                return StartOutcome(False, "I don't know that conversation.")
            if not seen_events.mark_seen(session=session, keys=event_keys):
                return StartOutcome(False, "", duplicate=True)
            refusal = self._refusal(session, conversation, user_id)
            if refusal is not None:
                return StartOutcome(False, refusal)
            targets, problems = self.targets()
            chosen = self._choose(targets, repo)
            if isinstance(chosen, StartOutcome):
                if not targets and problems:
                    return StartOutcome(False, "I can't push anywhere yet: " + " ".join(problems))
                return chosen
            plan = _latest_plan(session, conversation.id)
            card = card_keeping.signed_off_text(session, conversation.id)
            assert plan is not None and card is not None  # checked in _refusal
            run = run_records.add_implementation_run(
                session=session,
                run=ImplementationRun(
                    conversation_id=conversation.id,
                    repo=chosen.name,
                    branch=f"{BRANCH_PREFIX}{conversation.id}",
                    requested_by=user_id,
                    instructions=f"{card}\n\n---\n\n{_plan_text(plan)}",
                    thread_url=thread_url,
                ),
            )
            assert run.id is not None
            estimate = card_keeping.refresh(
                session, conversation, settings=self.settings, repos=self.repos
            )
            likely = (
                f" It will likely take {estimate.estimate.text(self.settings.implement_max_cost_usd)}."
                if estimate is not None and estimate.estimate is not None
                else ""
            )
            message_records.add_assistant_message(
                session=session,
                conversation_id=conversation.id,
                kind=MessageKind.NOTICE,
                text=(
                    f"Implementing the signed-off card in *{chosen.name}* on branch "
                    f"`{run.branch}` (asked by {user_name}).{likely} Progress follows here; "
                    "the pull request link comes at the end."
                ),
                payload={"implementation_run": run.id, "stoppable": True},
            )
            return StartOutcome(True, f"Implementing in {chosen.name}…", run_id=run.id)

    def take(self, session: Session, conversation: Conversation, message: Message) -> bool:
        """A reply in a thread whose plan became a pull request, from someone who may start
        runs: queue a run that adds commits to the same branch (intake has stored the reply,
        in this transaction). False when the reply is for the agent."""
        assert conversation.id is not None
        previous = run_records.pull_request_run(session=session, conversation_id=conversation.id)
        author = message.author_id or ""
        if previous is None or not self.may_approve(conversation=conversation, user_id=author):
            return False
        run = run_records.add_implementation_run(
            session=session,
            run=ImplementationRun(
                conversation_id=conversation.id,
                repo=previous.repo,
                branch=previous.branch,
                requested_by=author,
                instructions=message.text,
                thread_url=previous.thread_url,
            ),
        )
        target = next((t for t in self.targets()[0] if t.name == previous.repo), None)
        where = (
            f"{target.forge.request_noun} {target.forge.reference(previous.pr_number or 0)}"
            if target is not None
            else f"the request for `{previous.branch}`"
        )
        message_records.add_assistant_message(
            session=session,
            conversation_id=conversation.id,
            kind=MessageKind.NOTICE,
            text=f"Working your reply into {where}…",
            payload={"implementation_run": run.id, "stoppable": True},
        )
        return True

    def stop_implementation(self, *, conversation_id: int, by: str) -> bool:
        """Ask the conversation's active run to stop; False when none is going."""
        with session_scope(self.engine) as session:
            run = run_records.request_implementation_stop(
                session=session, conversation_id=conversation_id, by=by
            )
            if run is None:
                return False
            if run.status is ImplementationStatus.CANCELLED:  # it had not started
                message_records.add_assistant_message(
                    session=session,
                    conversation_id=conversation_id,
                    kind=MessageKind.NOTICE,
                    text=f"Stopped by {by} before it started. Nothing was pushed.",
                    payload={"implementation_run": run.id},
                )
            return True

    def retry_implementation(self, *, conversation_id: int, user_id: str) -> StartOutcome:
        """Queue a failed or stopped run again, with the same repository and instructions."""
        with session_scope(self.engine) as session:
            conversation = session.get(Conversation, conversation_id)
            runs = list(
                run_records.implementation_runs(session=session, conversation_id=conversation_id)
            )
            if conversation is None or not runs:
                return StartOutcome(False, "There is no run to retry.")
            if not self.may_approve(conversation=conversation, user_id=user_id):
                return StartOutcome(False, self._approver_text())
            last = runs[-1]
            if last.status not in (ImplementationStatus.FAILED, ImplementationStatus.CANCELLED):
                return StartOutcome(False, "", duplicate=True)
            run = run_records.add_implementation_run(
                session=session,
                run=ImplementationRun(
                    conversation_id=conversation_id,
                    repo=last.repo,
                    branch=last.branch,
                    requested_by=user_id,
                    instructions=last.instructions,
                    thread_url=last.thread_url,
                ),
            )
            message_records.add_assistant_message(
                session=session,
                conversation_id=conversation_id,
                kind=MessageKind.NOTICE,
                text=f"Trying the implementation run again in *{run.repo}*…",
                payload={"implementation_run": run.id, "stoppable": True},
            )
            return StartOutcome(True, "Retrying…", run_id=run.id)

    def newest_plan_of(self, *, team_id: str, requester_id: str) -> ThreadRef | None:
        """The person's most recent conversation that ended in a plan."""
        with Session(self.engine) as session:
            conversation = conversation_records.newest_conversation_with_status(
                session=session,
                team_id=team_id,
                requester_id=requester_id,
                status=ConversationStatus.DELIVERED,
            )
            return thread_of(conversation=conversation) if conversation else None

    def _refusal(self, session: Session, conversation: Conversation, user_id: str) -> str | None:
        assert conversation.id is not None
        if not self.enabled_in(team_id=conversation.team_id, channel_id=conversation.channel_id):
            return (
                "Implementation runs are off in this channel: `/feature channel implement on` "
                "turns them on here (or set IMPLEMENT_ENABLED=true for every channel)."
            )
        if not self.may_approve(conversation=conversation, user_id=user_id):
            return self._approver_text()
        unsigned = card_keeping.implement_refusal(
            session, conversation, settings=self.settings, repos=self.repos
        )
        if unsigned is not None:
            return unsigned
        if _latest_plan(session, conversation.id) is None:
            return "There is no plan to implement yet: the agent delivers one first."
        if run_records.active_implementation_run(session=session, conversation_id=conversation.id):
            return "This plan is being implemented already; Stop it first to start again."
        agent = self.registry.roster().get(conversation.agent) if conversation.agent else None
        if agent is None:
            return "This conversation has no agent to implement it."
        if not (agent.allows_tool("Edit") or agent.allows_tool("Write")):
            return (
                f"*{agent.name}* may only read code (`tools: {', '.join(agent.tools or [])}`), "
                "so it can't implement; hand the thread to an agent that may edit."
            )
        if self.settings.anthropic_api_key is None:
            return "ANTHROPIC_API_KEY is not set, so Claude Code can't run."
        return None

    def _approver_text(self) -> str:
        if self.approvers():
            return "Only the approvers named in IMPLEMENT_APPROVERS can start an implementation."
        return "Only the person who asked for this can start its implementation."

    def _choose(self, targets: list[RepoTarget], repo: str | None) -> RepoTarget | StartOutcome:
        names = [target.name for target in targets]
        if repo:
            chosen = next((t for t in targets if t.name == repo), None)
            if chosen is None:
                return StartOutcome(
                    False,
                    f"I can't implement in `{repo}`"
                    + (f"; choose one of: {', '.join(names)}." if names else "."),
                )
            return chosen
        if len(targets) == 1:
            return targets[0]
        if not targets:
            return StartOutcome(
                False,
                "No repository is set up for implementation runs: add a git URL to REPOS "
                "(with `@TOKEN_VARIABLE` for pushing).",
            )
        return StartOutcome(False, "Which repository?", repo_choices=names)

    # Running -------------------------------------------------------------------------------

    def claim_next(self) -> ImplementationRun | None:
        """Claim one queued run (or one a dead process left running)."""
        return queue.claim_run(
            engine=self.engine,
            worker=self.worker_id,
            lease=timedelta(seconds=self.settings.turn_lease_seconds),
        )

    def reclaim_dead(self) -> int:
        """Queue again at once the runs of this host's processes that died (a restart after a
        crash need not wait for their leases to run out)."""
        return queue.reclaim_dead(
            engine=self.engine,
            table=ImplementationRun,
            is_dead=lambda holder: is_dead(holder, me=self.worker_id),
        )

    def run_implementation_job(
        self,
        run: ImplementationRun,
        *,
        on_posted: Callable[[int], None] = lambda _conversation_id: None,
        on_activity: Callable[[ThreadRef, str], None] | None = None,
    ) -> ImplementationStatus:
        """Work one claimed run to its end; every outcome reaches the thread as a message."""
        assert run.id is not None
        job = _Job(self, run, on_posted=on_posted, on_activity=on_activity)
        try:
            return job.run()
        except Exception as error:  # a bug must not leave the run hanging or reach Slack raw
            log.exception("implementation run %s crashed", run.id)
            return job.fail(
                "Something went wrong on our side while implementing this.",
                detail=f"{type(error).__name__}: {error}",
            )
        finally:
            on_posted(run.conversation_id)


class _Job:
    """One run being worked: progress to the thread, the lease kept, Stop watched."""

    def __init__(
        self,
        service: ImplementationService,
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
                prompt=_prompt(run, worktree, first=not worktree.branch_existed),
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
            cache_dir=settings.implement_work_dir.expanduser().resolve() / ".setup-cache",
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
                    + _withheld_text(commit.withheld)
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
                return self.fail(_leak_text(findings), retry=False)
            self.activity("is pushing the branch…")
            if change.commits:
                push(worktree=worktree, target=target, timeout=_GIT_TIMEOUT)
            head = head_commit(worktree=worktree, timeout=_GIT_TIMEOUT)
        except GitError as error:
            return self.fail(f"I couldn't commit or push the change: {error}")
        if self.should_stop():
            return self.stopped(self._stop_by or "someone", pushed=bool(change.commits))
        body = _pull_request_body(
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
        tests = _tests_line(outcome, sandboxed=sandboxed)
        verb = f"Opened draft {request.noun}" if request.created else f"Updated {request.noun}"
        return self.finish(
            ImplementationStatus.SUCCEEDED,
            f"{verb} {request.reference}: {request.url}\n"
            f"{change.short if change.files else 'No new changes.'} "
            f"({change.commits} new commit{'s' if change.commits != 1 else ''}). {tests}"
            + _withheld_text(commit.withheld),
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
            plan = _latest_plan(session, self.conversation_id)
            text = _plan_text(plan) if plan is not None else self.run_row.instructions
            card = card_keeping.signed_off_text(session, self.conversation_id)
        if card:
            text = f"{card}\n\n---\n\n{text}"
        return text[:_BODY_PLAN_CHARS]


def _latest_plan(session: Session, conversation_id: int) -> Message | None:
    for message in reversed(
        message_records.thread_messages(session=session, conversation_id=conversation_id)
    ):
        if message.kind is MessageKind.DELIVERABLE:
            return message
    return None


def _plan_text(message: Message) -> str:
    payload = message.payload or {}
    return str(payload.get("document") or message.text)


def _prompt(run: ImplementationRun, worktree: Worktree, *, first: bool) -> str:
    where = (
        f"You are working in a git worktree of the repository on branch `{worktree.branch}` "
        f"(based on `{worktree.base_branch}`). Edit files only inside it. Commands run in a "
        "sandbox without network access. Do not commit or push: agentdesk commits your "
        "changes and opens the pull request. Run the project's tests before you finish, and "
        "end with a short summary of what you changed and how the tests went."
    )
    if first:
        return f"Implement this approved plan.\n\n{where}\n\n<plan>\n{run.instructions}\n</plan>"
    return (
        "The pull request for this branch already holds earlier work. The requester replied in "
        f"the thread; change the code accordingly.\n\n{where}\n\n<reply>\n{run.instructions}\n"
        "</reply>"
    )


def _tests_line(outcome: ClaudeCodeOutcome, *, sandboxed: bool) -> str:
    if not sandboxed:
        return "Tests were not run: the command sandbox cannot start on this machine."
    tests = [c for c in outcome.commands if c.looks_like_tests]
    if not tests:
        return "No tests were run."
    last = tests[-1]
    return f"Tests: `{last.command[:100]}` {'passed' if last.ok else 'failed'}."


def _withheld_text(withheld: list[tuple[str, str]]) -> str:
    if not withheld:
        return ""
    files = ", ".join(f"`{path}` ({reason})" for path, reason in withheld)
    return f"\nLeft out of the commit, as it looks like a secret or a database: {files}."


def _leak_text(findings: list[Finding]) -> str:
    places = "; ".join(f"{f.kind} in `{f.where}`" for f in findings[:10])
    return (
        "I stopped before pushing: the change holds what looks like a secret "
        f"({places}). Nothing was pushed, and the value is not shown here."
    )


def _pull_request_body(
    *,
    plan: str,
    summary: str,
    diff: str,
    outcome: ClaudeCodeOutcome,
    sandboxed: bool,
    thread_url: str | None,
    withheld: list[tuple[str, str]],
    setup: SetupResult | None = None,
) -> str:
    tests = [c for c in outcome.commands if c.looks_like_tests]
    if not sandboxed:
        test_text = "Tests were not run: the command sandbox could not start, so no command ran."
    elif not tests:
        test_text = "No tests were run."
    else:
        test_text = "\n".join(
            f"- `{c.command[:200]}`: {'passed' if c.ok else 'failed'}\n\n  ```\n  "
            + c.output[-300:].replace("\n", "\n  ")
            + "\n  ```"
            for c in tests[-5:]
        )
    thread = f"[the Slack thread]({thread_url})" if thread_url else "the Slack thread"
    setup_text = f"{setup.line()}\n\n" if setup else ""
    return (
        f"Implemented by agentdesk with Claude Code from {thread}.\n\n"
        f"## Summary\n\n{summary or 'No summary given.'}\n\n"
        f"## Change\n\n{diff}{_withheld_text(withheld)}\n\n"
        f"## Tests\n\n{setup_text}{test_text}\n\n"
        f"## Requirements and plan\n\n{plan}\n"
    )
