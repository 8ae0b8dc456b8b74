"""Implementation runs in Slack: the service and its worker threads, wired to this app's
poster, and the one way every surface (button, `/feature implement`, a thread reply) starts
a run and says what happened."""

import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.engine.desk import Desk
from bot.engine.ports import Poster
from bot.engine.views import ThreadRef
from bot.implement import (
    ImplementationService,
    ImplementationWorker,
    StartOutcome,
    build_implementation_service,
)

log = logging.getLogger(__name__)


@dataclass
class SlackImplementation:
    """The implementation service with its worker, posting through the app's poster."""

    service: ImplementationService
    worker: ImplementationWorker
    client: WebClient
    in_process: bool = True  # IMPLEMENT_IN_PROCESS: false leaves runs to `work --implement`

    def start(self) -> None:
        """Start working runs in this process (runs left by a restart are resumed), unless
        IMPLEMENT_IN_PROCESS=false leaves them to `agentdesk work --implement` processes."""
        if self.in_process:
            self.worker.start()

    def stop(self) -> None:
        """Stop claiming runs."""
        self.worker.stop()

    def begin(
        self,
        *,
        thread: ThreadRef,
        user_id: str,
        user_name: str,
        repo: str | None = None,
        event_keys: tuple[str, ...] = (),
    ) -> StartOutcome:
        """Ask for a run of the conversation's plan; wakes the worker when one is queued."""
        outcome = self.service.start_implementation(
            conversation_id=thread.id,
            user_id=user_id,
            user_name=user_name,
            repo=repo,
            thread_url=self.thread_url(thread),
            event_keys=event_keys,
        )
        if outcome.started:
            self.queued(thread.id)
        return outcome

    def queued(self, conversation_id: int) -> None:
        """A run of the conversation was queued: wake this process's worker or, when runs
        are worked elsewhere, post the run's first notice now (no run here will)."""
        self.worker.kick()
        if not self.in_process:
            self.worker.on_posted(conversation_id)

    def thread_url(self, thread: ThreadRef) -> str | None:
        """A link to the thread, for the commit message and the pull request."""
        try:
            reply = self.client.chat_getPermalink(
                channel=thread.channel_id, message_ts=thread.thread_ts
            )
        except SlackApiError as error:
            log.info("no permalink for the thread: %s", error.response.get("error"))
            return None
        link = reply.get("permalink")
        return str(link) if link else None


def build_slack_implementation(
    *, desk: Desk, poster: Poster, client: WebClient
) -> SlackImplementation:
    """The service over the desk's database, agents and repositories, and its worker."""
    service = build_implementation_service(desk)
    desk.follow_ups = service  # replies after a pull request become runs, through intake

    def posted(conversation_id: int) -> None:
        desk.flush_outbox(poster, conversation_id=conversation_id)

    def activity(thread: ThreadRef, text: str) -> None:
        poster.show_working(thread=thread, activity=text)

    worker = ImplementationWorker(service, on_posted=posted, on_activity=activity)
    return SlackImplementation(
        service=service,
        worker=worker,
        client=client,
        in_process=desk.settings.implement_in_process,
    )
