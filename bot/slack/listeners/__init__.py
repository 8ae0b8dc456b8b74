"""Bolt listeners, one concern per module.

Events and clicks are stored before the ack and taken in afterwards from the stored row
(`bot/slack/store_before_ack.py`), so only `/feature`'s immediate answer is a Bolt listener.
"""

from slack_bolt import App

from bot.slack.listeners.actions import implement
from bot.slack.listeners.commands import feature
from bot.slack.services import SlackServices


def register_all(app: App, services: SlackServices) -> None:
    """Attach every listener to the app."""
    implement.register(app, services)
    feature.register(app, services)
