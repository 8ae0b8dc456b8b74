"""`/feature`: file a request, or help, agents, status, cancel, `--agent NAME`."""

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.agents.description import summary
from bot.engine.inbound import InboundMessage, Source
from bot.routing.explicit import agent_option, match_agent_name
from bot.slack.admins import may_configure_channel
from bot.slack.listeners.commands.implement import channel_implement, implement_command
from bot.slack.markup import from_slack, sanitize_for_slack
from bot.slack.services import SlackServices

log = logging.getLogger(__name__)

COMMAND = "/feature"
REQUEST_METADATA = "agentdesk_request"

HELP = f"""*agentdesk* turns a feature request into a design and implementation plan.
• `{COMMAND} describe what you need`: file a request; I work it in a thread under it
• `{COMMAND} --agent NAME describe what you need`: pick the agent yourself
• `{COMMAND} agents`: who is on the desk
• `{COMMAND} status`: your open requests
• `{COMMAND} cancel`: cancel your latest open request (or `{COMMAND} cancel N`)
• `{COMMAND} channel`: this channel's settings; `{COMMAND} channel intake on|off` (every new
  post here is a request), `{COMMAND} channel agent NAME|none` (the agent for this channel),
  `{COMMAND} channel bots on|off` (take requests from other bots),
  `{COMMAND} channel implement on|off` (an Implement button under each plan)
• `{COMMAND} implement [N] [REPO]`: build the plan of request N (default: your newest plan) and
  open a draft pull request; `@agentdesk implement` in the thread does the same
You can also @mention me in a channel, DM me, or reply in a thread I'm working in."""


def register(app: App, services: SlackServices) -> None:
    """`/feature` is stored before its ack (see `bot/slack/store_before_ack.py`); the ack answers a
    subcommand at once, and a new request is filed afterwards from the stored command."""

    def acknowledge(
        ack: Ack, command: dict[str, Any], context: BoltContext, client: WebClient
    ) -> None:
        def allowed() -> bool:
            return may_configure_channel(
                client=client,
                settings=services.desk.settings,
                user_id=command.get("user_id") or "",
                channel_id=command.get("channel_id") or "",
            )

        ack(
            quick_reply(
                command=command, team_id=context.team_id, services=services, allowed=allowed
            )
            or ""
        )

    app.command(COMMAND)(acknowledge)


def file_stored_command(
    *,
    command: dict[str, Any],
    team_id: str | None,
    client: WebClient,
    services: SlackServices,
    retrying: bool = False,
) -> None:
    """After the ack: file the request, unless the ack answered a subcommand already."""
    if quick_reply(command=command, team_id=team_id, services=services, act=False) is None:
        start_request(
            command=command,
            team_id=team_id,
            client=client,
            respond=Respond(response_url=command.get("response_url")),
            services=services,
            retrying=retrying,
        )


def quick_reply(
    *,
    command: dict[str, Any],
    team_id: str | None,
    services: SlackServices,
    act: bool = True,
    allowed: Callable[[], bool] = lambda: True,
) -> str | None:
    """The answer to a subcommand (shown only to the person), or None for a new request.

    With `act=False` a `cancel` is recognised but not carried out. A channel setting is
    changed only when `allowed()` says this person may change it.
    """
    text = (command.get("text") or "").strip()
    word, _, rest = text.partition(" ")
    word = word.lower()
    team_id = team_id or command.get("team_id") or ""
    user_id = command.get("user_id") or ""
    if not text or word in ("help", "-h", "--help"):
        return HELP
    if word == "agents":
        lines = ["*Agents on the desk:*"]
        for agent in services.desk.roster():
            lines.append(f"• *{agent.name}*: {summary(agent, limit=200)}")
        return "\n".join(lines)
    if word == "status":
        open_requests = services.desk.open_requests(team_id=team_id, requester_id=user_id)
        if not open_requests:
            return "You have no open requests."
        lines = ["*Your open requests:*"]
        for conversation in open_requests[:20]:
            lines.append(
                f"{conversation.id}. {conversation.title} — {conversation.status.value.replace('_', ' ')}"
                + (f" with *{conversation.agent}*" if conversation.agent else "")
            )
        return "\n".join(lines)
    if word == "channel":
        reply = _channel_setting(
            rest.split(),
            team_id=team_id,
            channel_id=command.get("channel_id") or "",
            services=services,
            act=act,
            allowed=allowed,
        )
        if reply is not None:
            return reply
    if word == "implement":  # implementation runs
        return implement_command(
            rest.strip(), team_id=team_id, user_id=user_id, services=services, act=act
        )
    if word == "cancel":
        if not act:
            return "cancel"
        return _cancel(rest.strip(), team_id=team_id, user_id=user_id, services=services)
    name, request = agent_option(text)
    if name is not None:
        if _matched_agent(name, services) is None:
            known = ", ".join(services.desk.roster().agents)
            return f"There is no agent named `{name}`. Agents: {known}"
        if not request:
            return f"Tell me what you need after `--agent {name}`."
    return None


def start_request(
    *,
    command: dict[str, Any],
    team_id: str | None,
    client: WebClient,
    respond: Respond,
    services: SlackServices,
    retrying: bool = False,
) -> None:
    """Post the request in the channel and work it in a thread under that post.

    `retrying`: an earlier attempt may have posted it before failing; look for that post
    (it carries the command's trigger id as metadata) instead of posting again.
    """
    team_id = team_id or command.get("team_id") or ""
    channel = command.get("channel_id") or ""
    user_id = command.get("user_id") or ""
    raw = (command.get("text") or "").strip()
    agent_name: str | None = None
    name, raw = agent_option(raw)
    if name is not None:
        agent_name = _matched_agent(name, services)
    text = from_slack(raw, bot_user_id=services.bot_user_id)
    person = services.users.get(user_id, team_id=team_id)
    trigger = str(command.get("trigger_id") or "")
    earlier = _posted_before(client, channel=channel, trigger=trigger) if retrying else None
    try:
        posted = earlier or client.chat_postMessage(
            channel=channel,
            metadata={"event_type": REQUEST_METADATA, "event_payload": {"trigger": trigger}},
            text=f"Feature request from <@{user_id}>: {sanitize_for_slack(text)[:200]}",
            blocks=[
                {
                    "type": "markdown",
                    "text": sanitize_for_slack(f"**Feature request from {person.name}**\n\n{text}")[
                        :11_000
                    ],
                }
            ],
        )
    except SlackApiError as error:
        reason = error.response.get("error")
        log.info("/feature could not post in %s: %s", channel, reason)
        respond(
            "I can't post in this channel yet"
            + (
                ": invite me with `/invite @agentdesk`, or DM me your request."
                if reason in ("not_in_channel", "channel_not_found")
                else f" ({reason}). Try a DM."
            )
        )
        return
    ts = str(posted["ts"])
    services.submit(
        InboundMessage(
            team_id=team_id,
            channel_id=channel,
            thread_ts=ts,
            ts=ts,
            user_id=user_id,
            user_name=person.name,
            text=text,
            source=Source.COMMAND,
            explicit_agent=agent_name,
            event_keys=(f"command:{command.get('trigger_id') or ts}",),
        ),
        signal_ts=ts,
    )


def _posted_before(client: WebClient, *, channel: str, trigger: str) -> dict[str, Any] | None:
    """The request post an earlier attempt made for this command, if Slack has it."""
    try:
        history = client.conversations_history(channel=channel, include_all_metadata=True, limit=50)
    except SlackApiError:
        return None
    for item in history.get("messages") or []:
        metadata = item.get("metadata") or {}
        if (
            metadata.get("event_type") == REQUEST_METADATA
            and (metadata.get("event_payload") or {}).get("trigger") == trigger
        ):
            return dict(item)
    return None


_SWITCH = {"on": True, "off": False, "yes": True, "no": False, "true": True, "false": False}


REFUSED = (
    "Only workspace admins, this channel's creator and the people in ADMIN_USER_IDS can "
    "change this channel's settings. `/feature channel` shows them to anyone."
)


def _channel_setting(
    words: list[str],
    *,
    team_id: str,
    channel_id: str,
    services: SlackServices,
    act: bool,
    allowed: Callable[[], bool],
) -> str | None:
    """Show or change this channel's settings; None when the words are not a settings command
    (then they are a request that happens to start with "channel")."""
    desk = services.desk
    changes = len(words) == 2 and (
        (words[0].lower() in ("intake", "bots") and words[1].lower() in _SWITCH)
        or words[0].lower() == "agent"
    )
    if changes and act and not allowed():
        return REFUSED
    if not words:
        setting = desk.channel_setting(team_id=team_id, channel_id=channel_id)
        agent = setting.default_agent if setting and setting.default_agent else "none (routed)"
        intake = "on" if setting and setting.intake else "off"
        bots = "on" if setting and setting.allow_bots else "off"
        return f"This channel: agent *{agent}*, intake {intake}, requests from bots {bots}."
    if len(words) != 2:
        return None
    key, value = words[0].lower(), words[1]
    if key == "implement" and value.lower() in _SWITCH:  # implementation runs
        return channel_implement(
            _SWITCH[value.lower()],
            team_id=team_id,
            channel_id=channel_id,
            services=services,
            act=act,
        )
    if key in ("intake", "bots") and value.lower() in _SWITCH:
        field = "intake" if key == "intake" else "allow_bots"
        if act:
            desk.configure_channel(
                team_id=team_id, channel_id=channel_id, **{field: _SWITCH[value.lower()]}
            )
        if key == "intake":
            return (
                "Intake is on: every new post in this channel is a request."
                if _SWITCH[value.lower()]
                else "Intake is off: mention me or use /feature here."
            )
        return f"Requests from other bots are {'on' if _SWITCH[value.lower()] else 'off'} here."
    if key == "agent":
        if value.lower() == "none":
            if act:
                desk.configure_channel(team_id=team_id, channel_id=channel_id, default_agent=None)
            return "This channel has no agent of its own now: requests are routed."
        name = _matched_agent(value, services)
        if name is None:
            return f"There is no agent named `{value}`. Agents: {', '.join(desk.roster().agents)}"
        if act:
            desk.configure_channel(team_id=team_id, channel_id=channel_id, default_agent=name)
        return f"Requests in this channel now go to *{name}* unless they name another agent."
    return None


def _cancel(argument: str, *, team_id: str, user_id: str, services: SlackServices) -> str:
    open_requests = services.desk.open_requests(team_id=team_id, requester_id=user_id)
    if argument.isdigit():
        chosen = next((c for c in open_requests if c.id == int(argument)), None)
    else:
        chosen = open_requests[0] if open_requests else None
    if chosen is None or chosen.id is None:
        return (
            "You have no open request to cancel."
            if not argument
            else f"No open request {argument} of yours."
        )
    services.desk.cancel(chosen.id, by=services.users.get(user_id, team_id=team_id).name)
    services.worker.kick()
    return f"Cancelled request {chosen.id}: {chosen.title}"


def _matched_agent(name: str, services: SlackServices) -> str | None:
    agent = match_agent_name(name, services.desk.roster())
    return agent.name if agent else None
