"""The App Home tab as Block Kit, published with `views.publish`, and republished for people
who have opened it when something on it changes."""

import logging
import threading
from collections import OrderedDict
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.engine.desk import Desk
from bot.engine.home_summary import HomeRequest, HomeSummary
from bot.slack.admins import is_admin
from bot.slack.markup import sanitize_for_slack

log = logging.getLogger(__name__)

_MAX_LISTED = 15  # a Home view takes at most 100 blocks
_REMEMBERED = 10_000


class HomeTab:
    """Publishes people's Home tabs and remembers who has one to keep fresh."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self._lock = threading.Lock()
        self._viewers: OrderedDict[tuple[str, str], None] = OrderedDict()

    def publish(self, client: WebClient, *, team_id: str, user_id: str) -> None:
        """Build and publish one person's Home; never raises."""
        with self._lock:
            self._viewers[(team_id, user_id)] = None
            self._viewers.move_to_end((team_id, user_id))
            while len(self._viewers) > _REMEMBERED:
                self._viewers.popitem(last=False)
        admin = is_admin(client=client, settings=self.desk.settings, user_id=user_id)
        summary = self.desk.home(team_id=team_id, user_id=user_id, admin=admin)
        try:
            client.views_publish(user_id=user_id, view=home_view(summary))
        except SlackApiError as error:
            log.info("could not publish %s's Home: %s", user_id, error.response.get("error"))

    def refresh(self, client: WebClient, *, team_id: str, user_id: str) -> None:
        """Republish a Home that has been opened before (its requests changed)."""
        with self._lock:
            seen = (team_id, user_id) in self._viewers
        if seen:
            self.publish(client, team_id=team_id, user_id=user_id)


def home_view(summary: HomeSummary) -> dict[str, Any]:
    """The Home tab's view payload."""
    blocks: list[dict[str, Any]] = [_header("Your requests")]
    if summary.questions:
        blocks.append(_text("*Waiting on you: answers and sign-offs*"))
        blocks.extend(_request(request) for request in summary.questions[:_MAX_LISTED])
    others = [request for request in summary.requests if not request.asks_you]
    if others:
        blocks.append(_text("*In progress*"))
        blocks.extend(_request(request) for request in others[:_MAX_LISTED])
    if not summary.requests:
        blocks.append(_text("Nothing open. Mention me in a channel, use `/feature`, or DM me."))
    blocks += [{"type": "divider"}, _header("Agents")]
    blocks.extend(
        _text(f"*{name}*: {sanitize_for_slack(purpose)}")
        for name, purpose in summary.agents[:_MAX_LISTED]
    )
    if summary.week is not None:
        week = summary.week
        blocks += [{"type": "divider"}, _header("Admin: this week")]
        blocks.append(
            _text(
                f"{week.requests} requests, {week.delivered} delivered · "
                f"{week.input_tokens:,} input / {week.output_tokens:,} output tokens · "
                f"rated helpful {week.helpful}, not quite {week.not_helpful}"
            )
        )
        blocks.append(_header("Admin: channel settings"))
        if not summary.channels:
            blocks.append(_text("No channel has settings yet (`/feature channel …`)."))
        for setting in summary.channels[:_MAX_LISTED]:
            blocks.append(
                _text(
                    f"<#{setting.channel_id}>: default agent "
                    f"{setting.default_agent or 'none (the router decides)'}, "
                    f"intake {'on' if setting.intake else 'off'}, "
                    f"other bots {'allowed' if setting.allow_bots else 'ignored'}"
                )
            )
    return {"type": "home", "blocks": blocks}


def _request(request: HomeRequest) -> dict[str, Any]:
    agent = f" · {request.agent}" if request.agent else ""
    return _text(
        f"*{sanitize_for_slack(request.title)[:150]}* in <#{request.channel_id}>{agent}\n"
        f"Waiting for {request.waits_for}."
    )


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


def _text(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}
