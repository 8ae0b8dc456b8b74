"""Dollar prices of models: the family list prices, and MODEL_PRICES overriding them."""

import pytest
from pydantic import ValidationError

from bot.accounting.prices import FAMILY_PRICES, Price, PriceError, PriceTable, parse_prices
from bot.accounting.tokens import TokenUsage
from bot.config import Settings

MILLION_EACH = TokenUsage(
    input_tokens=1_000_000,
    output_tokens=1_000_000,
    cache_read_tokens=1_000_000,
    cache_write_tokens=1_000_000,
)


def test_family_list_prices_apply_to_any_model_of_the_family() -> None:
    table = PriceTable()
    assert table.price_for("claude-sonnet-5-5") == FAMILY_PRICES["sonnet"]
    assert table.price_for("claude-opus-5-5") == FAMILY_PRICES["opus"]
    assert table.cost("claude-haiku-5-5", MILLION_EACH) == pytest.approx(1 + 5 + 0.1 + 1.25)
    assert table.cost("gpt-9", MILLION_EACH) is None
    assert table.cost(None, MILLION_EACH) is None


def test_every_kind_of_token_has_its_own_price() -> None:
    price = Price(input=3, output=15, cache_read=0.3, cache_write=3.75)
    assert price.cost(TokenUsage(input_tokens=2_000)) == pytest.approx(0.006)
    assert price.cost(TokenUsage(output_tokens=2_000)) == pytest.approx(0.03)
    assert price.cost(TokenUsage(cache_read_tokens=2_000)) == pytest.approx(0.0006)
    assert price.cost(TokenUsage(cache_write_tokens=2_000)) == pytest.approx(0.0075)


def test_overrides_win_exactly_then_by_longest_prefix() -> None:
    table = PriceTable("claude-sonnet=2/10, claude-sonnet-5-5=4/20/0.4/5, my-model=1/2")
    assert table.price_for("claude-sonnet-5-5") == Price(4, 20, 0.4, 5)
    assert table.price_for("claude-sonnet-4-6") == Price(2, 10, 0.2, 2.5)
    assert table.price_for("my-model-v2") == Price(1, 2, 0.1, 1.25)
    assert table.price_for("claude-opus-5-5") == FAMILY_PRICES["opus"]


@pytest.mark.parametrize("text", ["sonnet", "sonnet=3", "sonnet=a/b", "=1/2", "x=1/2/3", "x=-1/2"])
def test_unreadable_prices_are_refused(text: str) -> None:
    with pytest.raises(PriceError, match="MODEL_PRICES entry"):
        parse_prices(text)


def test_a_bad_setting_fails_when_settings_are_read() -> None:
    with pytest.raises(ValidationError, match="MODEL_PRICES entry"):
        Settings(_env_file=None, model_prices="sonnet=cheap")  # type: ignore[call-arg]
