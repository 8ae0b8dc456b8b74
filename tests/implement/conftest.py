"""An implementation service wired to the fakes: model, GitHub, a bare remote."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.config import Settings
from bot.engine.inbound import InboundMessage, Source
from bot.engine.intake import Intake, take_in
from bot.implement import ImplementationService
from bot.repos import build_repo_set
from bot.runtime.build import build_desk
from bot.store import message_records
from bot.store.models import (
    ImplementationRun,
    Message,
    MessageKind,
    MessageRole,
)
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.github_server import FakeGitHub
from tests.implement.support import make_remote, signed_off_plan
from tests.support import make_settings

TOKEN = "ghp_fixturetoken0123456789"
REQUESTER = "U1"
OTHER = "U2"

pytest.importorskip("claude_agent_sdk", reason="the agentdesk[implement] extra is not installed")


@dataclass
class ImplementBench:
    """The service and everything it talks to."""

    settings: Settings
    service: ImplementationService
    model: FakeAnthropic
    github: FakeGitHub
    bare: Path
    posted: list[int]

    def conversation(self, *, channel: str = "C1", thread_ts: str = "1700000000.000100") -> int:
        """A conversation whose agent delivered the fixture plan, its card signed off."""
        return signed_off_plan(
            self.service.engine,
            team_id="T1",
            channel_id=channel,
            thread_ts=thread_ts,
            requester_id=REQUESTER,
        )

    def reply(
        self, text: str, *, ts: str = "1700000100.000200", user_id: str = REQUESTER
    ) -> Intake:
        """A thread reply, taken in by the engine's intake as Slack's would be (a reply after
        a pull request becomes a run there)."""
        return take_in(
            engine=self.service.engine,
            inbound=InboundMessage(
                team_id="T1",
                channel_id="C1",
                thread_ts="1700000000.000100",
                ts=ts,
                user_id=user_id,
                user_name="Alice",
                text=text,
                source=Source.THREAD,
                event_keys=(f"msg:T1:C1:{ts}",),
                start_conversation=False,
            ),
            registry=self.service.registry,
            follow_ups=self.service,
        )

    def run_queued(self) -> list[Any]:
        """Claim and work every queued run; their end states."""
        states = []
        while (run := self.service.claim_next()) is not None:
            states.append(self.service.run_implementation_job(run, on_posted=self.posted.append))
        return states

    def runs(self) -> list[ImplementationRun]:
        with Session(self.service.engine, expire_on_commit=False) as session:
            return list(session.exec(select(ImplementationRun)).all())

    def notices(self, conversation_id: int) -> list[Message]:
        with Session(self.service.engine, expire_on_commit=False) as session:
            return [
                m
                for m in message_records.thread_messages(
                    session=session, conversation_id=conversation_id
                )
                if m.role is MessageRole.ASSISTANT
                and m.kind not in (MessageKind.DELIVERABLE, MessageKind.CARD)
            ]


@pytest.fixture
def bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ImplementBench]:
    yield from bench_on(make_remote(tmp_path), tmp_path, monkeypatch)


def bench_on(
    bare: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **overrides: Any
) -> Iterator[ImplementBench]:
    """An implementation service whose repository `api` is the bare remote `bare` (settings
    as `overrides` change them)."""
    monkeypatch.setenv("GH_TOKEN", TOKEN)
    with (
        FakeAnthropic() as model,
        FakeGitHub(owner="acme", repo="calc", bare_repo=bare, token=TOKEN) as github,
    ):
        settings = make_settings(
            tmp_path,
            model,
            **{
                "repos": f"api=file://{bare}@GH_TOKEN",
                "repos_cache_dir": tmp_path / "mirrors",
                "implement_work_dir": tmp_path / "worktrees",
                "implement_github_repos": "api=acme/calc",
                "github_api_url": github.api_url,
                "implement_enabled": True,
                "implement_max_seconds": 60,
                **overrides,
            },
        )
        desk = build_desk(settings)
        service = ImplementationService(
            settings=settings,
            engine=desk.engine,
            registry=desk.registry,
            repos=build_repo_set(settings),
        )
        try:
            yield ImplementBench(settings, service, model, github, bare, [])
        finally:
            desk.engine.dispose()
