"""`agentdesk usage`: tokens and dollars spent on the model, by agent, channel or user."""

import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

import typer

from bot.cli.console import terminal


class By(StrEnum):
    """What the usage report groups by."""

    AGENT = "agent"
    CHANNEL = "channel"
    USER = "user"


_RELATIVE = re.compile(r"^(\d+)\s*([dhw])$")


def parse_since(text: str | None, *, now: datetime | None = None) -> datetime | None:
    """`2026-11-01`, an ISO time, `7d` / `12h` / `2w` ago, or `all` (None). Default: this month."""
    from bot.engine.budget import month_start

    now = now or datetime.now(UTC)
    if text is None or not text.strip():
        return month_start(now)
    text = text.strip().lower()
    if text == "all":
        return None
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        return now - timedelta(**{{"d": "days", "h": "hours", "w": "weeks"}[unit]: amount})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: use a date (2026-11-01), a time, 7d / 12h / 2w, or all"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def usage(
    by: Annotated[By, typer.Option("--by", help="Group by agent, channel or user.")] = By.AGENT,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="From when: 2026-11-01, 7d, 12h, 2w or all (default: this month)."
        ),
    ] = None,
) -> None:
    """Token usage and dollar cost of the agents' replies, from the stored token counts."""
    from rich.table import Table
    from sqlmodel import Session

    from bot.accounting.prices import PriceTable
    from bot.accounting.tokens import TokenUsage
    from bot.cli.conversations import open_database
    from bot.config import get_settings
    from bot.store.usage_reports import UsageGrouping, conversation_counts, usage_totals

    start = parse_since(since)
    settings = get_settings()
    prices = PriceTable(settings.model_prices)
    grouping = UsageGrouping(by.value)
    with Session(open_database()) as session:
        totals = usage_totals(session=session, by=grouping, since=start)
        conversations = conversation_counts(session=session, by=grouping, since=start)
    tokens: dict[str, TokenUsage] = defaultdict(TokenUsage)
    turns: dict[str, int] = defaultdict(int)
    dollars: dict[str, float] = defaultdict(float)
    unpriced: set[str] = set()
    for total in totals:
        tokens[total.key] += total.usage
        turns[total.key] += total.turns
        cost = prices.cost(total.model, total.usage)
        if cost is None:
            unpriced.add(total.model or "unknown")
        dollars[total.key] += cost or 0.0
    period = "all time" if start is None else f"since {start:%Y-%m-%d %H:%M} UTC"
    table = Table(title=f"Model usage by {by.value}, {period}")
    table.add_column(by.value, no_wrap=True)
    for column in (
        "conversations",
        "turns",
        "input",
        "cache read",
        "cache write",
        "output",
        "cost",
    ):
        table.add_column(column, justify="right")
    keys = sorted(tokens, key=lambda k: -dollars[k])
    for key in keys:
        used = tokens[key]
        table.add_row(
            key,
            str(conversations.get(key, 0)),
            str(turns[key]),
            f"{used.input_tokens:,}",
            f"{used.cache_read_tokens:,}",
            f"{used.cache_write_tokens:,}",
            f"{used.output_tokens:,}",
            f"${dollars[key]:,.2f}",
        )
    all_tokens = sum(tokens.values(), TokenUsage())
    table.add_section()
    table.add_row(
        "total",
        str(sum(conversations.get(k, 0) for k in keys)),
        str(sum(turns.values())),
        f"{all_tokens.input_tokens:,}",
        f"{all_tokens.cache_read_tokens:,}",
        f"{all_tokens.cache_write_tokens:,}",
        f"{all_tokens.output_tokens:,}",
        f"${sum(dollars.values()):,.2f}",
    )
    console = terminal()
    console.print(table)
    if unpriced:
        console.print(
            "[yellow]No price for: " + ", ".join(sorted(unpriced)) + " (counted as $0; "
            "add them to MODEL_PRICES).[/]",
            highlight=False,
        )
