"""The `agentdesk` command line (also `python -m bot`)."""

import typer

from bot.agents.command import agents_app

app = typer.Typer(
    name="agentdesk",
    help="agentdesk: a Slack desk of AI agents that turn feature requests into plans.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(agents_app, name="agents")
