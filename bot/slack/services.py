"""What the listeners share: the desk, the worker, the people directory, the bot's identity."""

import logging
from dataclasses import dataclass, field

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.engine.desk import Desk, Intake
from bot.engine.inbound import InboundMessage
from bot.engine.worker import Worker
from bot.slack.home import HomeTab
from bot.slack.poster import show_status
from bot.slack.sessions import AgentSessions
from bot.slack.users import UserDirectory
from bot.slack.workspaces import Workspaces

log = logging.getLogger(__name__)


@dataclass
class SlackServices:
    """Handed to each listener module's `register(app, services)`."""

    desk: Desk
    worker: Worker
    users: UserDirectory
    workspaces: Workspaces
    bot_user_id: str | None = None
    sessions: AgentSessions = field(default_factory=AgentSessions)
    home: HomeTab = field(init=False)

    def __post_init__(self) -> None:
        self.home = HomeTab(self.desk)

    def client_for(self, team_id: str | None) -> WebClient:
        """The Web API client of a workspace."""
        return self.workspaces.client_for(team_id)

    def submit(self, inbound: InboundMessage, *, signal_ts: str | None = None) -> Intake:
        """Take a message in; on success show a sign of life (or the person's place in the
        queue) at once and wake the worker."""
        intake = self.desk.take_in(inbound)
        if intake.duplicate or intake.ignored:
            return intake
        self.worker.kick()
        conversation = (
            self.desk.conversation(intake.conversation_id) if intake.conversation_id else None
        )
        agent = conversation.agent if conversation and conversation.agent else "agentdesk"
        ahead = self._waiting_ahead(intake)
        client = self.workspaces.client_for(inbound.team_id)
        show_status(
            client,
            channel=inbound.channel_id,
            thread_ts=inbound.thread_ts,
            status=f"{agent} is reading your message…"
            if not ahead
            else f"{agent} is busy: {_requests(ahead)} ahead of yours",
            fallback_ts=signal_ts or inbound.ts,
        )
        if ahead:
            self._tell_place(client, inbound, ahead)
        return intake

    def _waiting_ahead(self, intake: Intake) -> int:
        """Requests that will still be waiting ahead of this one once free slots fill."""
        if intake.work_id is None:
            return 0
        return max(0, self.desk.turns_ahead(intake.work_id) - self.worker.free_slots())

    def _tell_place(self, client: WebClient, inbound: InboundMessage, ahead: int) -> None:
        try:
            client.chat_postEphemeral(
                channel=inbound.channel_id,
                user=inbound.user_id,
                thread_ts=inbound.thread_ts,
                text=f"Got it. The desk is busy: {_requests(ahead)} ahead of yours. "
                "I'll answer in this thread as soon as an agent is free.",
            )
        except SlackApiError as error:
            log.info(
                "could not tell %s their place: %s", inbound.user_id, error.response.get("error")
            )


def _requests(count: int) -> str:
    return f"{count} request{'s' if count != 1 else ''}"
