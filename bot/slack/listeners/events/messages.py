"""Mentions, DMs, thread replies, intake-channel posts and edits."""

import logging
from collections import deque
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.engine.inbound import InboundMessage, PriorMessage, Source
from bot.slack.listeners.events.implement import take_implementation_message
from bot.slack.markup import from_slack
from bot.slack.services import SlackServices

log = logging.getLogger(__name__)

# Message subtypes that are people talking; everything else (joins, topics, deletions…) is not.
_SPOKEN = {None, "file_share", "thread_broadcast"}
_LEGACY_BOT = "bot_message"  # heard only where a channel allows bots
_PRIOR_LIMIT = 50  # messages of an existing thread given as context
_PRIOR_PAGE_SIZE = 200
_PRIOR_PAGES = 50  # at most 10,000 replies are paged through (Slack lists oldest first)


def handle_message_event(
    *,
    event: dict[str, Any],
    team_id: str,
    bot_user_id: str | None,
    client: WebClient,
    services: SlackServices,
    bot_id: str | None = None,
) -> None:
    """Turn one stored Slack event into at most one stored message for the desk."""
    bot_user_id = bot_user_id or services.bot_user_id
    subtype = event.get("subtype")
    if subtype == "message_changed":
        _edited(event, team_id=team_id, bot_user_id=bot_user_id, services=services)
        return
    if subtype not in _SPOKEN and subtype != _LEGACY_BOT:
        return
    channel = event.get("channel") or ""
    # A legacy integration's post has no user: the bot's ID stands in for one.
    user = event.get("user") or (event.get("bot_id") if subtype == _LEGACY_BOT else None)
    ts = event.get("ts") or ""
    if not channel or not ts or not user or user == bot_user_id:
        return
    if event.get("bot_id") or event.get("bot_profile") or subtype == _LEGACY_BOT:
        if bot_id and event.get("bot_id") == bot_id:
            return
        setting = services.desk.channel_setting(team_id=team_id, channel_id=channel)
        if setting is None or not setting.allow_bots:
            return
    raw_text = event.get("text") or ""
    thread_ts = event.get("thread_ts")
    is_dm = event.get("channel_type") == "im" or channel.startswith("D")
    mentioned = event.get("type") == "app_mention" or (
        bool(bot_user_id) and f"<@{bot_user_id}>" in raw_text
    )
    if is_dm:
        source, start = Source.DM, True
    elif mentioned:
        source, start = Source.MENTION, True
    elif thread_ts:
        source, start = Source.THREAD, False
    else:
        setting = services.desk.channel_setting(team_id=team_id, channel_id=channel)
        if setting is None or not setting.intake:
            return
        source, start = Source.INTAKE, True
    conversation_ts = thread_ts or ts
    person_name = (
        str(event.get("username") or user)
        if subtype == _LEGACY_BOT
        else services.users.get(user, team_id=team_id).name
    )
    prior: tuple[PriorMessage, ...] = ()
    if (
        start
        and thread_ts
        and thread_ts != ts
        and (
            services.desk.find_conversation(
                team_id=team_id, channel_id=channel, thread_ts=thread_ts
            )
            is None
        )
    ):
        prior = _earlier_messages(
            client, channel, thread_ts, before=ts, team_id=team_id, services=services
        )
    text = from_slack(raw_text, bot_user_id=bot_user_id)
    if not text and not prior:
        text = "(no text)"
    if take_implementation_message(  # implementation runs: `implement`, replies after a PR
        team_id=team_id,
        channel_id=channel,
        thread_ts=thread_ts,
        ts=ts,
        user_id=user,
        user_name=person_name,
        text=text,
        mentioned=mentioned,
        services=services,
        client=client,
    ):
        return
    services.submit(
        InboundMessage(
            team_id=team_id,
            channel_id=channel,
            thread_ts=conversation_ts,
            ts=ts,
            user_id=user,
            user_name=person_name,
            text=text or "(see the thread above)",
            source=source,
            event_keys=(f"msg:{team_id}:{channel}:{ts}",),
            prior_messages=prior,
            start_conversation=start,
        ),
        signal_ts=ts,
    )


def apologise(event: dict[str, Any], *, bot_user_id: str | None, client: WebClient) -> None:
    """Tell the person their message was not taken in, when it was meant for the bot."""
    text = event.get("text") or ""
    addressed = (
        event.get("type") == "app_mention"
        or event.get("channel_type") == "im"
        or (bool(bot_user_id) and f"<@{bot_user_id}>" in text)
    )
    if not addressed or event.get("subtype") or event.get("bot_id") or not event.get("ts"):
        return
    try:
        client.chat_postMessage(
            channel=event["channel"],
            thread_ts=event.get("thread_ts") or event["ts"],
            text="Sorry, I couldn't take that in just now. Please send it again in a minute.",
        )
    except SlackApiError:
        log.warning("could not apologise either", exc_info=True)


def _edited(
    event: dict[str, Any], *, team_id: str, bot_user_id: str | None, services: SlackServices
) -> None:
    message = event.get("message") or {}
    ts, channel = message.get("ts"), event.get("channel")
    if not ts or not channel or message.get("user") == bot_user_id or message.get("bot_id"):
        return
    text = from_slack(message.get("text") or "", bot_user_id=bot_user_id)
    if services.desk.edit_message(team_id=team_id, channel_id=channel, ts=ts, text=text):
        log.info("read edited message %s in %s anew", ts, channel)


def _earlier_messages(
    client: WebClient,
    channel: str,
    thread_ts: str,
    *,
    before: str,
    team_id: str,
    services: SlackServices,
) -> tuple[PriorMessage, ...]:
    """The thread's first message and the newest ones before the mention, as context."""
    try:
        first, newest = _thread_before(client, channel, thread_ts, before=before)
    except SlackApiError as error:
        log.warning("could not read the thread for context: %s", error.response.get("error"))
        return ()
    prior = []
    for item in [*first, *newest]:
        if float(item.get("ts", "0")) >= float(before) or not item.get("text"):
            continue
        author = item.get("user")
        name = (
            services.users.get(author, team_id=team_id).name
            if author
            else item.get("username") or "a bot"
        )
        prior.append(
            PriorMessage(
                author_id=author,
                author_name=name,
                text=from_slack(item["text"], bot_user_id=services.bot_user_id),
                ts=item.get("ts"),
            )
        )
    return tuple(prior)


def _thread_before(
    client: WebClient, channel: str, thread_ts: str, *, before: str
) -> tuple[list[dict[str, Any]], deque[dict[str, Any]]]:
    """The thread's parent, and its newest replies before `before` (Slack lists oldest first)."""
    first: list[dict[str, Any]] = []
    newest: deque[dict[str, Any]] = deque(maxlen=_PRIOR_LIMIT - 1)
    cursor: str | None = None
    for _ in range(_PRIOR_PAGES):
        response = client.conversations_replies(
            channel=channel, ts=thread_ts, latest=before, limit=_PRIOR_PAGE_SIZE, cursor=cursor
        )
        for item in response.get("messages") or []:
            (first if item.get("ts") == thread_ts else newest).append(item)
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not response.get("has_more") or not cursor:
            break
    return first[:1], newest
