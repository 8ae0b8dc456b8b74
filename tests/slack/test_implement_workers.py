"""Implementation runs on machines of their own: `agentdesk serve` with IMPLEMENT_IN_PROCESS=false
queues the runs from Slack and takes none; `agentdesk work --implement` processes share them
on one PostgreSQL database, each run worked once, Claude Code driven by the fake model in its
real sandbox and the pull requests opened on the fake GitHub. Stop, pressed on `serve`, ends a
run another process works; SIGTERM hands a run back; a killed process's run is taken over."""

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.store.models import (
    ImplementationRun,
    ImplementationStatus,
    PostState,
)
from tests.fakes.anthropic_server import (
    ClaudeCodeScript,
    FakeAnthropic,
    JSONDict,
    MessageSpec,
    TextSpec,
)
from tests.fakes.github_server import FakeGitHub
from tests.fakes.slack_server import FakeSlack, visible_text
from tests.implement.support import (
    implementation_steps,
    make_remote,
    signed_off_plan,
)
from tests.slack.conftest import ALICE, BOT_ID, SECRET, TEAM, SlackSide, is_card
from tests.slack.processes import ServedApp, app_environment

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

pytest.importorskip("claude_agent_sdk", reason="the agentdesk[implement] extra is not installed")

CHANNEL = "C0RUNS"
TOKEN = "ghp_workers0123456789abcdef"
RUNS = 5
PER_PROCESS = 2  # IMPLEMENT_CONCURRENCY
AGENT = "backend-feature-developer"
OPENED = "Opened draft pull request"
WAIT_SECONDS = 20.0  # for anything quick the processes do; generous, the machine may be busy
RUNS_SECONDS = 90.0  # for every run to end
LEASE_SECONDS = 5  # TURN_LEASE_SECONDS where a killed process's run is taken over


class ClaudeCodePerRun:
    """The fake model's answers to Claude Code for runs going at once: each session, told
    apart by its working directory (its run's own worktree), gets a script of its own. Agent
    loop answers wait while `release` is not set, so a test can look at the runs in flight."""

    def __init__(self, *, delay_seconds: float = 0.0, held: bool = False) -> None:
        self.delay_seconds = delay_seconds
        self.scripts: dict[str, ClaudeCodeScript] = {}
        self.release = threading.Event()
        if not held:
            self.release.set()
        self._lock = threading.Lock()

    def __call__(self, body: JSONDict) -> MessageSpec:
        if not ClaudeCodeScript.is_agent_loop(body):
            return MessageSpec(content=[TextSpec("ok")])
        folder = ClaudeCodeScript.working_directory(body)
        with self._lock:
            script = self.scripts.get(folder)
            if script is None:
                script = self.scripts[folder] = ClaudeCodeScript(
                    implementation_steps(), delay_seconds=self.delay_seconds
                )
        self.release.wait(timeout=RUNS_SECONDS)
        return script(body)

    def sessions(self) -> int:
        with self._lock:
            return len(self.scripts)


class ImplementWorker:
    """`agentdesk work --implement` as its own process (in a group of its own, with the
    Claude Code processes it starts), its output in `implement.log` in `folder`: a machine of
    its own, with its own mirrors and worktrees."""

    def __init__(self, *, env: dict[str, str], folder: Path) -> None:
        folder.mkdir()
        self.folder = folder
        self.log_path = folder / "implement.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "work", "--implement"],
                cwd=folder,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ready(self) -> bool:
        assert self.process.poll() is None, f"work --implement exited:\n{self.output()}"
        return "working implementation runs" in self.output()

    def close(self) -> None:
        """Kill whatever still runs (a test that failed half-way)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(
        users={ALICE: {"real_name": "Alice Archer"}}, channels={CHANNEL: {"name": "runs"}}
    ) as fake:
        yield fake


@pytest.fixture
def model() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def github(tmp_path: Path) -> Iterator[FakeGitHub]:
    bare = make_remote(tmp_path / "remote")
    with FakeGitHub(owner="acme", repo="calc", bare_repo=bare, token=TOKEN) as fake:
        yield fake


@pytest.fixture
def environment(
    tmp_path: Path,
    slack: FakeSlack,
    model: FakeAnthropic,
    github: FakeGitHub,
    postgres_engine: Engine,
) -> dict[str, str]:
    """What every process runs with: the fakes, the scratch database, runs allowed in every
    channel and left by `serve` to `agentdesk work --implement`, two at a time each."""
    return app_environment(
        slack=slack,
        model=model,
        database=tmp_path / "unused.db",
        SLACK_SIGNING_SECRET=SECRET,
        DATABASE_URL=postgres_engine.url.render_as_string(hide_password=False),
        GH_TOKEN=TOKEN,
        REPOS=f"api=file://{github.bare_repo}@GH_TOKEN",
        IMPLEMENT_GITHUB_REPOS="api=acme/calc",
        GITHUB_API_URL=github.api_url,
        IMPLEMENT_ENABLED="true",
        IMPLEMENT_IN_PROCESS="false",
        IMPLEMENT_CONCURRENCY=str(PER_PROCESS),
        IMPLEMENT_MAX_SECONDS="120",
    )


def _signed_off_plan(engine: Engine, *, thread_ts: str, title: str) -> int:
    """A conversation in the thread whose plan waits in the outbox (posted with its Implement
    button), its requirement card signed off; its id."""
    return signed_off_plan(
        engine,
        team_id=TEAM,
        channel_id=CHANNEL,
        thread_ts=thread_ts,
        requester_id=ALICE,
        title=title,
        post_state=PostState.PENDING,
    )


def _runs(engine: Engine) -> list[ImplementationRun]:
    with Session(engine, expire_on_commit=False) as session:
        return list(session.exec(select(ImplementationRun).order_by(ImplementationRun.id)).all())


def _pid(holder: str | None) -> int:
    """The process of a lease holder, `host:pid:nonce`."""
    assert holder is not None
    return int(holder.split(":")[1])


def _bot_replies(slack: FakeSlack, thread: str) -> list[dict[str, Any]]:
    return [
        m
        for m in slack.thread(CHANNEL, thread)
        if m.get("bot_id") == BOT_ID and m["ts"] != thread and not is_card(m)
    ]


def _with_text(slack: FakeSlack, thread: str, needle: str) -> list[dict[str, Any]]:
    return [m for m in _bot_replies(slack, thread) if needle in visible_text(m)]


def _run_of(engine: Engine, conversation_id: int) -> ImplementationRun | None:
    return next((r for r in _runs(engine) if r.conversation_id == conversation_id), None)


def _holder(engine: Engine, conversation_id: int) -> int | None:
    """The process holding the conversation's run, if one does."""
    run = _run_of(engine, conversation_id)
    return _pid(run.leased_by) if run is not None and run.leased_by else None


def _plan(slack: FakeSlack, thread: str) -> dict[str, Any] | None:
    """The posted plan: the bot's message with the Implement button."""
    return next(
        (
            m
            for m in _bot_replies(slack, thread)
            for block in m.get("blocks") or []
            if block.get("type") == "actions"
            and any(e.get("text", {}).get("text") == "Implement" for e in block["elements"])
        ),
        None,
    )


class ServeWithoutRuns:
    """`agentdesk serve` taking no runs, and threads with signed-off plans to click on."""

    def __init__(
        self, *, env: dict[str, str], folder: Path, slack: FakeSlack, model: FakeAnthropic
    ) -> None:
        folder.mkdir()
        self.web = ServedApp(env=env, folder=folder)
        self.slack = slack
        self.side = SlackSide(base_url=self.web.base_url, slack=slack, anthropic=model)
        self.threads: dict[int, str] = {}  # conversation id → thread

    def plans(self, engine: Engine, count: int) -> list[int]:
        """`count` threads with signed-off plans (`serve` posts them); their conversation ids."""
        made = []
        for n in range(count):
            thread = self.slack.add_user_message(CHANNEL, f"<@UBOT> Add subtract ({n})", ALICE)
            conversation_id = _signed_off_plan(engine, thread_ts=thread, title=f"Subtract {n}")
            self.threads[conversation_id] = thread
            made.append(conversation_id)
        return made

    def implement(self, conversation_id: int) -> dict[str, Any]:
        """Press Implement under the plan; the run's first message (with Stop), which
        `serve` posts at once though it works no runs."""
        thread = self.threads[conversation_id]
        plan = self.slack.wait_for(
            lambda: _plan(self.slack, thread), timeout=WAIT_SECONDS, message="the posted plan"
        )
        self.side.click(plan, "Implement", response_name=f"implement-{conversation_id}")
        return self.wait_for_text(conversation_id, "Implementing the signed-off")

    def wait_for_text(
        self, conversation_id: int, needle: str, timeout: float = WAIT_SECONDS
    ) -> dict[str, Any]:
        thread = self.threads[conversation_id]
        found = self.slack.wait_for(
            lambda: _with_text(self.slack, thread, needle),
            timeout=timeout,
            interval=0.1,
            message=f"{needle!r} in the thread",
        )
        return found[0]

    def refusals(self) -> list[Any]:
        """What Implement answered only to the clicker (a run that did not start)."""
        return [r for c in self.threads for r in self.slack.responses(f"implement-{c}")]


def test_two_implement_workers_share_the_runs_serve_queues_each_run_worked_once(
    tmp_path: Path,
    slack: FakeSlack,
    model: FakeAnthropic,
    github: FakeGitHub,
    environment: dict[str, str],
    postgres_engine: Engine,
) -> None:
    claude_code = ClaudeCodePerRun(held=True)
    model.default = claude_code
    desk = ServeWithoutRuns(env=environment, folder=tmp_path / "web", slack=slack, model=model)
    workers: list[ImplementWorker] = []
    try:
        desk.web.start()
        conversations = desk.plans(postgres_engine, RUNS)
        # `serve` queues each run and says so in its thread at once; it works none of them.
        for conversation_id in conversations:
            desk.implement(conversation_id)
        queued = _runs(postgres_engine)
        assert [(r.status, r.leased_by) for r in queued] == [
            (ImplementationStatus.QUEUED, None)
        ] * RUNS

        # Two processes take them, two at a time each: the model holds Claude Code's answers
        # until four sessions are going, so each must be working two.
        workers = [ImplementWorker(env=environment, folder=tmp_path / n) for n in ("a", "b")]
        slack.wait_for(lambda: all(w.ready() for w in workers), timeout=WAIT_SECONDS, interval=0.1)
        slack.wait_for(
            lambda: claude_code.sessions() >= 2 * PER_PROCESS,
            timeout=WAIT_SECONDS * 2,
            interval=0.1,
            message="four Claude Code sessions",
        )
        running = [r for r in _runs(postgres_engine) if r.status is ImplementationStatus.RUNNING]
        per_process = collections.Counter(_pid(r.leased_by) for r in running)
        assert per_process == {w.pid: PER_PROCESS for w in workers}, per_process
        claude_code.release.set()

        for conversation_id in conversations:
            desk.wait_for_text(conversation_id, OPENED, timeout=RUNS_SECONDS)
        for worker in workers:  # idle: a clean stop
            worker.process.send_signal(signal.SIGTERM)
            assert worker.process.wait(timeout=WAIT_SECONDS) == 0, worker.output()
    finally:
        claude_code.release.set()
        for worker in workers:
            worker.close()
        desk.web.close()

    # Each run once, by one of the two workers (never `serve`), and both took some.
    runs = _runs(postgres_engine)
    assert [(r.status, r.attempts) for r in runs] == [(ImplementationStatus.SUCCEEDED, 1)] * RUNS, [
        (r.status, r.attempts, r.outcome) for r in runs
    ]
    assert {_pid(r.leased_by) for r in runs} == {w.pid for w in workers}
    assert len(claude_code.scripts) == RUNS and all(claude_code.scripts)
    # One pull request per conversation, one message linking it in its thread, the last.
    branches = collections.Counter(pull["head"]["ref"] for pull in github.pulls)
    assert branches == {f"agentdesk/conversation-{c}": 1 for c in conversations}
    for pull in github.pulls:
        conversation_id = int(pull["head"]["ref"].rsplit("-", 1)[1])
        thread = desk.threads[conversation_id]
        (opened,) = _with_text(slack, thread, OPENED)
        assert pull["html_url"] in visible_text(opened)
        assert visible_text(_bot_replies(slack, thread)[-1]) == visible_text(opened)
    assert desk.refusals() == []
    for worker in workers:
        assert "Traceback" not in worker.output()
    assert slack.errors == [] and model.failures == []


def test_stop_sigterm_and_a_killed_process_reach_runs_worked_elsewhere(
    tmp_path: Path,
    slack: FakeSlack,
    model: FakeAnthropic,
    github: FakeGitHub,
    environment: dict[str, str],
    postgres_engine: Engine,
) -> None:
    env = {**environment, "TURN_LEASE_SECONDS": str(LEASE_SECONDS)}
    claude_code = ClaudeCodePerRun(delay_seconds=1.0)  # a run takes five seconds at least
    model.default = claude_code
    desk = ServeWithoutRuns(env=env, folder=tmp_path / "web", slack=slack, model=model)
    workers: list[ImplementWorker] = []

    def working(conversation_id: int, sessions: int) -> ImplementWorker:
        """Wait until the run's Claude Code session is going; the worker holding it."""
        slack.wait_for(
            lambda: claude_code.sessions() >= sessions,
            timeout=WAIT_SECONDS,
            interval=0.1,
            message=f"Claude Code session {sessions}",
        )
        run = _run_of(postgres_engine, conversation_id)
        assert run is not None and run.status is ImplementationStatus.RUNNING, run
        (holder,) = [w for w in workers if w.pid == _pid(run.leased_by)]
        return holder

    try:
        desk.web.start()
        stopping, handed_back, killed = desk.plans(postgres_engine, 3)
        workers = [ImplementWorker(env=env, folder=tmp_path / n) for n in ("a", "b")]
        slack.wait_for(lambda: all(w.ready() for w in workers), timeout=WAIT_SECONDS, interval=0.1)

        # Stop, pressed on `serve`, ends the session in the process working the run.
        notice = desk.implement(stopping)
        working(stopping, sessions=1)
        desk.side.click(notice, "Stop")
        stopped = desk.wait_for_text(stopping, "Stopped by")
        assert "Nothing was pushed" in visible_text(stopped)

        # SIGTERM hands the run back at once; the other process takes it and finishes it.
        desk.implement(handed_back)
        leaving = working(handed_back, sessions=2)
        leaving.process.send_signal(signal.SIGTERM)
        assert leaving.process.wait(timeout=WAIT_SECONDS) == 0, leaving.output()
        desk.wait_for_text(handed_back, "goes back to the queue")
        desk.wait_for_text(handed_back, OPENED, timeout=RUNS_SECONDS)

        # A killed process's run waits for its lease to run out, then another takes it over.
        workers.append(ImplementWorker(env=env, folder=tmp_path / "c"))
        slack.wait_for(lambda: workers[-1].ready(), timeout=WAIT_SECONDS, interval=0.1)
        desk.implement(killed)
        dying = working(killed, sessions=4)
        os.killpg(dying.pid, signal.SIGKILL)
        dying.process.wait(timeout=WAIT_SECONDS)
        died = time.monotonic()
        slack.wait_for(
            lambda: _holder(postgres_engine, killed) not in (dying.pid, None),
            timeout=WAIT_SECONDS,
            interval=0.1,
            message="another process to take the run over",
        )
        took_over = time.monotonic() - died
        desk.wait_for_text(killed, "agentdesk restarted while this run was going")
        desk.wait_for_text(killed, OPENED, timeout=RUNS_SECONDS)
    finally:
        for worker in workers:
            worker.close()
        desk.web.close()

    runs = {r.conversation_id: r for r in _runs(postgres_engine)}
    assert len(runs) == 3
    assert runs[stopping].status is ImplementationStatus.CANCELLED
    assert _pid(runs[stopping].leased_by) in {w.pid for w in workers[:2]}
    # The hand-back did not count as an attempt; the kill did.
    assert (runs[handed_back].status, runs[handed_back].attempts) == (
        ImplementationStatus.SUCCEEDED,
        1,
    )
    assert _pid(runs[handed_back].leased_by) != leaving.pid
    assert (runs[killed].status, runs[killed].attempts) == (ImplementationStatus.SUCCEEDED, 2)
    assert _pid(runs[killed].leased_by) != dying.pid
    # Renewed every third of the lease, at the kill at least two thirds of it were left.
    assert took_over >= LEASE_SECONDS * 2 / 3 - 1.0, took_over
    branches = collections.Counter(pull["head"]["ref"] for pull in github.pulls)
    assert branches == {f"agentdesk/conversation-{c}": 1 for c in (handed_back, killed)}
    for conversation_id in (handed_back, killed):
        assert len(_with_text(slack, desk.threads[conversation_id], OPENED)) == 1
    assert desk.refusals() == []
    assert slack.errors == [] and model.failures == []
