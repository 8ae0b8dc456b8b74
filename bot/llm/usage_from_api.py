"""Token accounting for model calls: the API's `usage` object read as a TokenUsage."""

from typing import Any

from bot.accounting.tokens import TokenUsage


def usage_from_api(usage: Any) -> TokenUsage:
    """Read the `usage` object of an Anthropic response."""
    return TokenUsage(
        input_tokens=getattr(usage, "input_tokens", 0) or 0,
        output_tokens=getattr(usage, "output_tokens", 0) or 0,
        cache_read_tokens=getattr(usage, "cache_read_input_tokens", 0) or 0,
        cache_write_tokens=getattr(usage, "cache_creation_input_tokens", 0) or 0,
    )
