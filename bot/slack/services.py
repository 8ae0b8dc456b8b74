"""What the listeners share: the desk, the worker, the people directory, the bot's identity."""

import logging
from dataclasses import dataclass, field
from typing import Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.engine.desk import Desk, Intake
from bot.engine.inbound import InboundMessage
from bot.engine.worker import Worker
from bot.slack.home_tab import HomeTab
from bot.slack.implementation import SlackImplementation  # implementation runs
from bot.slack.poster import show_status
from bot.slack.sessions import AgentSessions
from bot.slack.user_groups import UserGroups
from bot.slack.users import UserDirectory
from bot.slack.workspaces import Workspaces

log = logging.getLogger(__name__)


class TurnProcesses(Protocol):
    """The processes that run turns in this one's stead (`agentdesk serve`'s workers)."""

    def wake(self) -> None:
        """Something new was stored: look for work now."""


@dataclass
class SlackServices:
    """Handed to each listener module's `register(app, services)`."""

    desk: Desk
    worker: Worker
    users: UserDirectory
    workspaces: Workspaces
    groups: UserGroups | None = None  # user groups for sign-off rules; made from workspaces
    bot_user_id: str | None = None
    implementation: SlackImplementation | None = None  # implementation runs (bot/implement)
    sessions: AgentSessions = field(default_factory=AgentSessions)
    processes: TurnProcesses | None = None  # turns run there rather than in `worker`
    home: HomeTab = field(init=False)

    def __post_init__(self) -> None:
        self.home = HomeTab(self.desk)
        if self.groups is None:
            self.groups = UserGroups(self.workspaces.client_for)

    def client_for(self, team_id: str | None) -> WebClient:
        """The Web API client of a workspace."""
        return self.workspaces.client_for(team_id)

    def wake(self) -> None:
        """A request or a turn was stored: wake whoever runs it (the worker processes, or
        this one). Replies stored outside a turn need `worker.kick()` to be posted at once."""
        if self.processes is not None:
            self.processes.wake()
        else:
            self.worker.wake()

    def submit(self, inbound: InboundMessage, *, signal_ts: str | None = None) -> Intake:
        """Take a message in; on success show a sign of life (or the person's place in the
        queue) at once and wake the worker."""
        intake = self.desk.take_in(inbound)
        if intake.duplicate or intake.ignored or intake.refused:
            return intake
        if intake.follow_up and self.implementation is not None:
            assert intake.conversation_id is not None
            self.implementation.queued(intake.conversation_id)
            self.worker.kick()  # the run's first notice
            return intake
        self.wake()
        agent = intake.agent or "agentdesk"
        place = self._place_in_queue(intake)
        client = self.workspaces.client_for(inbound.team_id)
        show_status(
            client,
            channel=inbound.channel_id,
            thread_ts=inbound.thread_ts,
            status=f"{agent} is reading your message…"
            if place is None
            else f"{agent} is busy: {place}",
            fallback_ts=signal_ts or inbound.ts,
        )
        if place is not None:
            self._tell_place(client, inbound, place)
        return intake

    def _place_in_queue(self, intake: Intake) -> str | None:
        """Where this request waits, when the free slots won't reach it at once."""
        if intake.work_id is None:
            return None
        ahead = self.desk.turns_ahead(intake.work_id)
        if ahead < self.worker.free_slots():
            return None
        if ahead == 0:
            return "yours is next"
        return f"{ahead} request{'s' if ahead != 1 else ''} ahead of yours"

    def _tell_place(self, client: WebClient, inbound: InboundMessage, place: str) -> None:
        try:
            client.chat_postEphemeral(
                channel=inbound.channel_id,
                user=inbound.user_id,
                thread_ts=inbound.thread_ts,
                text=f"Got it. The desk is busy right now: {place}. "
                "I'll answer in this thread as soon as an agent is free.",
            )
        except SlackApiError as error:
            log.info(
                "could not tell %s their place: %s", inbound.user_id, error.response.get("error")
            )
