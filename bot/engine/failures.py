"""What a thread is told when a turn fails."""

from bot.llm.errors import FailureReason


def failure_text(*, reason: str) -> str:
    """The reason, then Retry when trying again can help, or that something must be fixed first."""
    if isinstance(reason, FailureReason) and not reason.retryable:
        return (
            f"I couldn't finish this turn. {reason} Retrying won't help until whoever runs "
            "agentdesk fixes that. Press Retry once it is fixed."
        )
    return f"I couldn't finish this turn. {reason} Press Retry to try again."
