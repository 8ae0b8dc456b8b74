"""Posts stored replies into Slack threads: once, in order, as Markdown, with attachments."""

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.engine.desk import Desk
from bot.engine.followups import render_digest
from bot.engine.views import ChannelPost, Reply, ThreadRef
from bot.slack.home_tab import HomeTab
from bot.slack.live_turn import StreamedTurn
from bot.slack.markup import plain_preview, sanitize_for_slack, split_markdown
from bot.slack.render import SlackMessage, render
from bot.slack.sessions import PROCESSING, AgentSessions
from bot.slack.workspaces import Workspaces

# A message to edit (a streamed preview, the card) that is gone or no longer ours to edit:
# post it afresh.
_PREVIEW_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})

log = logging.getLogger(__name__)

METADATA_EVENT = "agentdesk_reply"


class SlackPoster:
    """The engine's Poster for Slack."""

    def __init__(
        self, workspaces: Workspaces, desk: Desk, *, sessions: AgentSessions | None = None
    ) -> None:
        self.workspaces = workspaces
        self.desk = desk
        self.sessions = sessions or AgentSessions()
        self.home: HomeTab | None = None  # set when the app has a Home tab to keep fresh

    def post(self, *, thread: ThreadRef, reply: Reply) -> str | None:
        """Post a reply in its thread and return the first message's ts.

        After an interrupted attempt, the parts (and the attached plan) that did reach the
        thread are not posted again, and the ones that did not are posted now.
        """
        client = self.workspaces.client_for(thread.team_id)
        if reply.slack_ts:  # shown already (the card): edited in place
            piece = render(reply, thread=thread, agents=[])[0]
            metadata = {
                "event_type": METADATA_EVENT,
                "event_payload": {"message_id": reply.id, "part": 0},
            }
            edited = self._edit(thread, reply.slack_ts, piece, metadata)
            if edited is not None:
                return edited
        if (reply.payload or {}).get("channel_creator"):
            reply = self._to_channel_creator(client, thread, reply)
        replies = self._replies(thread) if reply.post_attempted_at is not None else []
        posted = _parts_posted(replies, message_id=reply.id)
        agents = list(self.desk.roster().agents)
        preview_ts = (reply.payload or {}).get("preview_ts")
        first_ts: str | None = None
        for index, piece in enumerate(render(reply, thread=thread, agents=agents)):
            piece_ts = posted.get(index)
            metadata = {
                "event_type": METADATA_EVENT,
                "event_payload": {"message_id": reply.id, "part": index},
            }
            if piece_ts is None and index == 0 and preview_ts:
                piece_ts = self._replace_preview(thread, str(preview_ts), piece, metadata)
            if piece_ts is None:
                response = client.chat_postMessage(
                    channel=thread.channel_id,
                    thread_ts=thread.thread_ts,
                    text=piece.text,
                    blocks=piece.blocks,
                    metadata=metadata,
                    unfurl_links=False,
                )
                piece_ts = str(response.get("ts") or "")
            first_ts = first_ts or piece_ts
            if piece.attachment and not _file_posted_after(
                replies, filename=piece.attachment[0], after=piece_ts
            ):
                self._attach(thread, *piece.attachment)
        self.sessions.show(client, thread=thread)
        if self.home is not None:
            self.home.refresh(client, team_id=thread.team_id, user_id=thread.requester_id)
        return first_ts

    def _to_channel_creator(self, client: WebClient, thread: ThreadRef, reply: Reply) -> Reply:
        """An escalation for the channel's creator names them (Slack's `creator`, absent for
        some conversations: then nobody is named)."""
        try:
            channel = client.conversations_info(channel=thread.channel_id).get("channel") or {}
        except SlackApiError as error:
            log.info("could not read the channel's creator: %s", error.response.get("error"))
            return reply
        creator = channel.get("creator")
        if not creator or creator == thread.requester_id:
            return reply
        payload = {**(reply.payload or {}), "escalate_to": [str(creator)]}
        return dataclasses.replace(reply, payload=payload)

    def start_preview(self, *, thread: ThreadRef, remember: Callable[[str], None]) -> StreamedTurn:
        """Stream a running turn into its thread (see `bot/slack/live_turn.py`)."""
        return StreamedTurn(
            self.workspaces.client_for(thread.team_id),
            thread=thread,
            remember=remember,
        )

    def _replace_preview(
        self,
        conversation: ThreadRef,
        preview_ts: str,
        piece: SlackMessage,
        metadata: dict[str, Any],
    ) -> str | None:
        """Turn the turn's streamed message into the reply's first part; None when the
        preview is gone and the part must be posted instead."""
        client = self.workspaces.client_for(conversation.team_id)
        # Stopped already, or expired: either way it can be edited now.
        with contextlib.suppress(SlackApiError):
            client.chat_stopStream(channel=conversation.channel_id, ts=preview_ts)
        return self._edit(conversation, preview_ts, piece, metadata)

    def _edit(
        self, conversation: ThreadRef, ts: str, piece: SlackMessage, metadata: dict[str, Any]
    ) -> str | None:
        """Edit a message of ours in place; None when it is gone and must be posted anew."""
        client = self.workspaces.client_for(conversation.team_id)
        try:
            client.chat_update(
                channel=conversation.channel_id,
                ts=ts,
                text=piece.text,
                blocks=piece.blocks,
                metadata=metadata,
            )
        except SlackApiError as error:
            if error.response.get("error") not in _PREVIEW_GONE:
                raise  # the outbox tries again later
            log.info("the message to edit is gone (%s); posting it anew", error.response)
            return None
        return ts

    def post_to_channel(self, *, post: ChannelPost) -> str | None:
        """Post a digest at the top of its channel, with links to the threads it names."""
        client = self.workspaces.client_for(post.team_id)
        if post.post_attempted_at is not None:
            existing = self._already_in_channel(client, post)
            if existing:
                return existing
        text = (
            render_digest(
                _sanitized_digest(post.payload),
                link=lambda item: _thread_link(client, item),
            )
            if post.payload
            else sanitize_for_slack(post.text)
        )
        ts: str | None = None
        for piece in split_markdown(text):
            response = client.chat_postMessage(
                channel=post.channel_id,
                text=plain_preview(piece),
                blocks=[{"type": "markdown", "text": piece}],
                metadata={
                    "event_type": METADATA_EVENT,
                    "event_payload": {"scheduled_post": post.key},
                },
                unfurl_links=False,
            )
            ts = ts or response.get("ts")
        return ts

    def show_working(self, *, thread: ThreadRef, activity: str) -> None:
        """A status line under the thread, or a reaction where statuses aren't allowed; the
        thread's agent session shows it is processing (with Slack's Stop button)."""
        client = self.workspaces.client_for(thread.team_id)
        self.sessions.show(client, thread=thread, status=PROCESSING)
        show_status(
            client,
            channel=thread.channel_id,
            thread_ts=thread.thread_ts,
            status=f"{thread.agent or 'agentdesk'} {activity}",
            fallback_ts=thread.thread_ts,
        )

    def _replies(self, conversation: ThreadRef) -> list[dict[str, Any]]:
        """The thread as Slack has it, with our metadata (empty when it can't be read)."""
        client = self.workspaces.client_for(conversation.team_id)
        replies: list[dict[str, Any]] = []
        cursor: str | None = None
        try:
            while True:
                response = client.conversations_replies(
                    channel=conversation.channel_id,
                    ts=conversation.thread_ts,
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
                replies.extend(response.get("messages") or [])
                cursor = (response.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    return replies
        except SlackApiError:
            log.warning("could not read the thread to look for an earlier post", exc_info=True)
            return replies

    def _already_in_channel(self, client: WebClient, post: ChannelPost) -> str | None:
        try:
            response = client.conversations_history(
                channel=post.channel_id, include_all_metadata=True, limit=50
            )
        except SlackApiError:
            return None
        for item in response.get("messages") or []:
            payload = (item.get("metadata") or {}).get("event_payload") or {}
            if payload.get("scheduled_post") == post.key:
                return str(item.get("ts"))
        return None

    def _attach(self, conversation: ThreadRef, filename: str, content: str) -> None:
        client = self.workspaces.client_for(conversation.team_id)
        try:
            client.files_upload_v2(
                channel=conversation.channel_id,
                thread_ts=conversation.thread_ts,
                content=content,
                filename=filename,
                title=filename.removesuffix(".md").replace("-", " ").capitalize(),
            )
        except SlackApiError as error:
            log.warning(
                "could not attach the plan (%s); posting it inline", error.response.get("error")
            )
            for piece in split_markdown(content):
                client.chat_postMessage(
                    channel=conversation.channel_id,
                    thread_ts=conversation.thread_ts,
                    text=piece[:300],
                    blocks=[{"type": "markdown", "text": piece}],
                )


def _thread_link(client: WebClient, item: dict[str, Any]) -> str:
    title = str(item.get("title") or f"request {item.get('conversation_id')}")
    try:
        permalink = client.chat_getPermalink(
            channel=str(item["channel_id"]), message_ts=str(item["thread_ts"])
        ).get("permalink")
    except (SlackApiError, KeyError):
        permalink = None
    requester = f" from <@{item['requester_id']}>" if item.get("requester_id") else ""
    return (f"[{title}]({permalink})" if permalink else title) + requester


def _sanitized_digest(payload: dict[str, Any]) -> dict[str, Any]:
    """The digest's stored texts made safe for Slack; the mentions we add come later."""
    safe = dict(payload)
    for section in ("waiting", "failed"):
        safe[section] = [
            {
                **item,
                **{
                    key: sanitize_for_slack(str(item[key]))
                    for key in ("title", "reason")
                    if item.get(key)
                },
            }
            for item in payload.get(section) or []
        ]
    return safe


def show_status(
    client: WebClient, *, channel: str, thread_ts: str, status: str, fallback_ts: str
) -> None:
    """Set the thread's status line; fall back to an :eyes: reaction. Never raises."""
    try:
        client.assistant_threads_setStatus(channel_id=channel, thread_ts=thread_ts, status=status)
        return
    except SlackApiError as error:
        log.info("setStatus refused (%s); reacting instead", error.response.get("error"))
    try:
        client.reactions_add(channel=channel, timestamp=fallback_ts, name="eyes")
    except SlackApiError as error:
        if error.response.get("error") != "already_reacted":
            log.info("could not react either: %s", error.response.get("error"))


def _parts_posted(replies: list[dict[str, Any]], *, message_id: int | None) -> dict[int, str]:
    """The parts of a reply an earlier attempt did post in the thread, with their ts."""
    posted: dict[int, str] = {}
    for item in replies:
        metadata = item.get("metadata") or {}
        payload = metadata.get("event_payload") or {}
        if metadata.get("event_type") == METADATA_EVENT and payload.get("message_id") == message_id:
            posted.setdefault(int(payload.get("part") or 0), str(item.get("ts")))
    return posted


def _file_posted_after(replies: list[dict[str, Any]], *, filename: str, after: str) -> bool:
    """Whether the thread shows this file, uploaded after the part it belongs to."""
    return any(
        float(item.get("ts") or 0) > float(after or 0)
        and any(file.get("name") == filename for file in item.get("files") or [])
        for item in replies
    )
