"""What the Slack app must be granted and subscribed to; `manifest.json` carries all of it,
OAuth installs ask for these scopes, and `agentdesk doctor` checks both."""

BOT_SCOPES = (
    "app_mentions:read",
    "channels:history",
    "channels:read",  # conversations.info: who created a channel
    "chat:write",  # also covers assistant.threads.setStatus and agent sessions
    "commands",
    "files:write",
    "groups:history",
    "groups:read",
    "im:history",
    "im:read",
    "im:write",
    "mpim:history",
    "reactions:write",
    "usergroups:read",  # APPROVERS and CODEOWNERS teams given as user groups
    "users:read",  # names, time zones, who is a workspace admin
)

BOT_EVENTS = (
    "agent_session_stopped",  # Slack's Stop button
    "app_home_opened",  # the Home tab, and suggested prompts in agent DMs
    "app_mention",
    "app_uninstalled",  # OAuth mode: forget the workspace's tokens
    "message.channels",
    "message.groups",
    "message.im",
    "message.mpim",
    "tokens_revoked",
)
