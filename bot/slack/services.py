"""What the listeners share: the desk, the worker, the people directory, the bot's identity."""

from dataclasses import dataclass

from slack_sdk import WebClient

from bot.engine.desk import Desk, Intake
from bot.engine.inbound import InboundMessage
from bot.engine.worker import Worker
from bot.slack.implementation import SlackImplementation  # implementation runs
from bot.slack.poster import show_status
from bot.slack.users import UserDirectory


@dataclass
class SlackServices:
    """Handed to each listener module's `register(app, services)`."""

    desk: Desk
    worker: Worker
    users: UserDirectory
    client: WebClient
    bot_user_id: str | None = None
    implementation: SlackImplementation | None = None  # implementation runs (bot/implement)

    def submit(self, inbound: InboundMessage, *, signal_ts: str | None = None) -> Intake:
        """Take a message in; on success show a sign of life at once and wake the worker."""
        intake = self.desk.take_in(inbound)
        if intake.duplicate or intake.ignored:
            return intake
        conversation = (
            self.desk.conversation(intake.conversation_id) if intake.conversation_id else None
        )
        agent = conversation.agent if conversation and conversation.agent else "agentdesk"
        show_status(
            self.client,
            channel=inbound.channel_id,
            thread_ts=inbound.thread_ts,
            status=f"{agent} is reading your message…",
            fallback_ts=signal_ts or inbound.ts,
        )
        self.worker.kick()
        return intake
