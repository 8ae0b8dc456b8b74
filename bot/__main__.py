"""Run the command line as ``python -m bot``."""

from bot.cli import app

app(prog_name="agentdesk")
