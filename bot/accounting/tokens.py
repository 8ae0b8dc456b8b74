"""Token counts of model calls: what the model client reports and the store records."""

from dataclasses import dataclass


@dataclass(frozen=True)
class TokenUsage:
    """Tokens of one model call (or a sum of calls), cache reads and writes included."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: "TokenUsage") -> "TokenUsage":
        return TokenUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
        )

    @property
    def total_input(self) -> int:
        """All input tokens: uncached, read from cache and written to cache."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens
