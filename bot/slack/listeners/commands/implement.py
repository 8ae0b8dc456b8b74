"""`/feature implement [N] [REPO]` and `/feature channel implement on|off`."""

from bot.slack.services import SlackServices

USAGE = "`/feature implement [N] [REPO]`"


def implement_command(
    argument: str, *, team_id: str, user_id: str, services: SlackServices, act: bool
) -> str:
    """Start a run of conversation N's plan (default: your newest one with a plan)."""
    if not act:
        return "implement"
    implementation = services.implementation
    if implementation is None:
        return "Implementation runs are not set up in this process."
    words = argument.split()
    number = int(words.pop(0)) if words and words[0].isdigit() else None
    repo = words.pop(0) if words else None
    if words:
        return f"Usage: {USAGE}"
    conversation = None
    if number is not None:
        conversation = services.desk.conversation(number)
        if conversation is None or conversation.team_id != team_id:
            return f"There is no request {number}."
    else:
        conversation = implementation.service.newest_plan_of(team_id=team_id, requester_id=user_id)
        if conversation is None:
            return (
                "None of your requests has a plan yet. Name one with "
                f"{USAGE} (its number is in `/feature status`)."
            )
    outcome = implementation.begin(
        thread=conversation,
        user_id=user_id,
        user_name=services.users.get(user_id).name,
        repo=repo,
    )
    if outcome.repo_choices:
        return (
            f"Which repository? Say `/feature implement {conversation.id} REPO` with one of: "
            + ", ".join(f"`{name}`" for name in outcome.repo_choices)
        )
    if outcome.started:
        return f"Implementing request {conversation.id}: {conversation.title}. Follow it in its thread."
    return outcome.message


def channel_implement(
    enabled: bool, *, team_id: str, channel_id: str, services: SlackServices, act: bool
) -> str:
    """Turn implementation runs on or off for this channel."""
    if act and services.implementation is not None:
        services.implementation.service.set_channel(
            team_id=team_id, channel_id=channel_id, enabled=enabled
        )
    if enabled:
        return "Implementation runs are on here: an Implement button comes with each plan."
    return "Implementation runs are off here" + (
        " (IMPLEMENT_ENABLED still allows them everywhere)."
        if services.desk.settings.implement_enabled
        else "."
    )
