"""The conversation engine: intake, routing, agent turns and the outbox, independent of Slack."""
