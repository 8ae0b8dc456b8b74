"""Implementation runs as durable jobs: who may start one, where, and the stored job.

A run is a row in `implementation_run`, claimed under a lease like an agent turn; working it
is `run_job.py`, what it says `run_texts.py`. Whatever happens, the pull request is looked up
by its branch before one is opened, so a conversation never gets two.
"""

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.agents.registry import AgentRegistry
from bot.config import Settings, split_ids
from bot.engine import card_keeping
from bot.engine.desk import Desk
from bot.engine.identity import is_dead, process_id
from bot.engine.views import ThreadRef, thread_of
from bot.implement.availability import implement_extra_missing
from bot.implement.run_job import RunJob
from bot.implement.run_texts import latest_plan, plan_text
from bot.implement.targets import (
    RepoTarget,
    TargetError,
    parse_github_repos,
    parse_gitlab_projects,
    target_for,
)
from bot.repos import RepoSet, build_repo_set
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

BRANCH_PREFIX = "agentdesk/conversation-"


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
            plan = latest_plan(session, conversation.id)
            card = card_keeping.signed_off_text(session, conversation.id)
            assert plan is not None and card is not None  # checked in _refusal
            run = run_records.add_implementation_run(
                session=session,
                run=ImplementationRun(
                    conversation_id=conversation.id,
                    repo=chosen.name,
                    branch=f"{BRANCH_PREFIX}{conversation.id}",
                    requested_by=user_id,
                    instructions=f"{card}\n\n---\n\n{plan_text(plan)}",
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
        if latest_plan(session, conversation.id) is None:
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
        job = RunJob(self, run, on_posted=on_posted, on_activity=on_activity)
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
