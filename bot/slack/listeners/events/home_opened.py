"""`app_home_opened`: the Home tab is published; the Messages tab (agent DMs) gets
suggested prompts built from the loaded agents."""

import logging
from typing import Any

from slack_bolt.context.set_suggested_prompts import SetSuggestedPrompts
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.services import SlackServices

log = logging.getLogger(__name__)

MAX_PROMPTS = 4  # Slack shows at most four


def handle_home_opened(
    *, event: dict[str, Any], team_id: str, client: WebClient, services: SlackServices
) -> None:
    """Publish the Home tab, or suggest prompts in the agent's DM."""
    if event.get("tab") == "home":
        services.home.publish(client, team_id=team_id, user_id=event["user"])
    elif event.get("tab") == "messages" and event.get("channel"):
        _suggest_prompts(event["channel"], client=client, services=services)


def _suggest_prompts(channel: str, *, client: WebClient, services: SlackServices) -> None:
    prompts = []
    for agent in services.desk.roster():
        asked = next((r for example in agent.examples for r in example.user_requests), None)
        prompts.append({"title": f"Ask {agent.name}"[:75], "message": asked or f"{agent.name}: "})
    prompts = prompts[:MAX_PROMPTS]
    if not prompts:
        return
    try:
        # No thread_ts here: with one, Slack drops the prompts without an error.
        SetSuggestedPrompts(client=client, channel_id=channel)(
            prompts=prompts, title="What should an agent work on?"
        )
    except SlackApiError as error:
        log.info("could not suggest prompts: %s", error.response.get("error"))
