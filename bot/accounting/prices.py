"""What model calls cost in dollars: a price table per model, overridable by MODEL_PRICES.

Prices are US dollars per million tokens, for uncached input, output, input read from the
prompt cache, and input written to it (five-minute cache). A model is priced by an exact
entry, else by the longest entry its id starts with, else by its family (opus, sonnet,
haiku) at the list prices below. Costs are computed when read, from the stored token counts
and the current table.
"""

from dataclasses import dataclass
from functools import lru_cache

from bot.accounting.tokens import TokenUsage

_MILLION = 1_000_000


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens of each kind."""

    input: float
    output: float
    cache_read: float
    cache_write: float

    def cost(self, usage: TokenUsage) -> float:
        """The dollar cost of these tokens."""
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_read_tokens * self.cache_read
            + usage.cache_write_tokens * self.cache_write
        ) / _MILLION


# Anthropic's list prices by family (cache reads 0.1x input, five-minute cache writes 1.25x).
FAMILY_PRICES = {
    "opus": Price(input=5.0, output=25.0, cache_read=0.5, cache_write=6.25),
    "sonnet": Price(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75),
    "haiku": Price(input=1.0, output=5.0, cache_read=0.1, cache_write=1.25),
}


class PriceError(ValueError):
    """MODEL_PRICES can't be read; the message shows the entry and the expected form."""


def parse_prices(text: str) -> dict[str, Price]:
    """Read `model=input/output[/cache_read/cache_write]` entries, comma- or newline-separated.

    Without the cache prices, they follow from the input price (0.1x and 1.25x).
    """
    prices: dict[str, Price] = {}
    for entry in text.replace("\n", ",").split(","):
        entry = entry.strip()
        if not entry:
            continue
        model, _, numbers = entry.partition("=")
        try:
            values = [float(part) for part in numbers.split("/")]
        except ValueError:
            values = []
        if not model.strip() or len(values) not in (2, 4) or any(v < 0 for v in values):
            raise PriceError(
                f"MODEL_PRICES entry {entry!r} is not `model=input/output[/cache_read/cache_write]` "
                "(dollars per million tokens, e.g. claude-sonnet-5-5=3/15/0.3/3.75)"
            )
        if len(values) == 2:
            values += [values[0] * 0.1, values[0] * 1.25]
        prices[model.strip()] = Price(*values)
    return prices


class PriceTable:
    """Prices for any model id: MODEL_PRICES entries first, then the family list prices."""

    def __init__(self, overrides: str = "") -> None:
        self.overrides = parse_prices(overrides)

    def price_for(self, model: str | None) -> Price | None:
        """The price of a model, or None when nothing is known about it."""
        if not model:
            return None
        if model in self.overrides:
            return self.overrides[model]
        prefixes = [name for name in self.overrides if model.startswith(name)]
        if prefixes:
            return self.overrides[max(prefixes, key=len)]
        lowered = model.lower()
        return next((p for family, p in FAMILY_PRICES.items() if family in lowered), None)

    def cost(self, model: str | None, usage: TokenUsage) -> float | None:
        """Dollars for these tokens on this model; None when the model has no price."""
        price = self.price_for(model)
        return None if price is None else price.cost(usage)


@lru_cache(maxsize=4)
def price_table(prices: str) -> PriceTable:
    """The price table of a MODEL_PRICES value, built once."""
    return PriceTable(prices)
