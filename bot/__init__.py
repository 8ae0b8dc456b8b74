"""agentdesk: a Slack desk of AI agents that turn feature requests into designs and plans."""

__version__ = "0.1.0"
