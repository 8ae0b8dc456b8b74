"""Bolt listeners, one concern per module, each with `register(app, services)`."""

from slack_bolt import App

from bot.slack.listeners.actions import buttons, implement
from bot.slack.listeners.commands import feature
from bot.slack.listeners.events import messages
from bot.slack.services import SlackServices


def register_all(app: App, services: SlackServices) -> None:
    """Attach every listener to the app."""
    implement.register(app, services)
    messages.register(app, services)
    feature.register(app, services)
    buttons.register(app, services)
