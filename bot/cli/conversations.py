"""`agentdesk conversations …`: read back what the desk did, for the people who run it."""

from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.console import terminal

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

conversations_app = typer.Typer(
    help="List conversations and show one: messages, routing decisions, tokens.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def open_database() -> "Engine":
    """The database, after the doctor's database check; a read command never migrates it, so
    a database behind this version's migrations is a StartupError naming the fix."""
    from bot.config import get_settings
    from bot.runtime.startup import StartupError, require_database
    from bot.store.db import current_revision, head_revision, make_engine

    settings = get_settings()
    require_database(settings)
    engine = make_engine(settings.database_url)
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise StartupError(
            f"The database is at revision {current or 'none'}, this agentdesk needs {head}",
            "Run `agentdesk db upgrade` first.",
        )
    return engine


@conversations_app.command("list")
def list_conversations(
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
) -> None:
    """The newest conversations: id, status, agent, requester, title, tokens."""
    from rich.table import Table
    from sqlmodel import Session

    from bot.store import conversation_records

    console = terminal()
    with Session(open_database()) as session:
        rows = conversation_records.newest_conversations(session=session, limit=limit)
        costs = conversation_costs(session, [row.id for row in rows if row.id is not None])
    table = Table(title=f"{len(rows)} newest conversations")
    for column in ("id", "status", "agent", "requester", "title", "tokens in/out", "cost"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            str(row.id),
            row.status.value,
            row.agent or "-",
            row.requester_name or row.requester_id,
            row.title,
            f"{row.input_tokens + row.cache_read_tokens + row.cache_write_tokens}/{row.output_tokens}",
            f"${costs.get(str(row.id), 0.0):,.2f}",
        )
    console.print(table)


@conversations_app.command("show")
def show_conversation(
    conversation_id: int,
    history: Annotated[
        bool, typer.Option("--history", help="Every version of the requirement card too.")
    ] = False,
) -> None:
    """One conversation: its requirement card, routing decisions, messages and token usage."""
    from sqlmodel import Session

    from bot.engine.card_keeping import version_texts
    from bot.store import cards, conversation_records, message_records, routing_records
    from bot.store.models import MessageKind

    console = terminal()
    with Session(open_database()) as session:
        conversation = conversation_records.conversation_by_id(
            session=session, conversation_id=conversation_id
        )
        if conversation is None:
            console.print(f"[red]No conversation {conversation_id}.[/]")
            raise typer.Exit(code=1)
        decisions = routing_records.routing_history(
            session=session, conversation_id=conversation_id
        )
        cost = conversation_costs(session, [conversation_id]).get(str(conversation_id), 0.0)
        messages = message_records.thread_messages(session=session, conversation_id=conversation_id)
        card = cards.card_message(session=session, conversation_id=conversation_id)
        versions = version_texts(session, conversation_id) if history else []
    c = conversation
    console.print(
        f"[bold]#{c.id}[/] {c.title}\n{c.status.value} · agent {c.agent or '-'} · "
        f"{c.source} in {c.channel_id} (thread {c.thread_ts}) · requester "
        f"{c.requester_name or c.requester_id}"
        + (f"\nfailed: {c.failure_reason}" if c.failure_reason else ""),
        highlight=False,
    )
    console.print(
        f"tokens: {c.input_tokens} in, {c.cache_read_tokens} read from cache, "
        f"{c.cache_write_tokens} written to cache, {c.output_tokens} out; cost ${cost:,.4f}",
        highlight=False,
    )
    console.rule("requirement card")
    console.print(card.text if card else "No requirement card yet.", markup=False)
    for version in versions:
        console.rule(
            f"card version {version.version} · {version.author or '-'} · "
            f"{version.created_at:%Y-%m-%d %H:%M} UTC",
            style="dim",
        )
        console.print(version.text, markup=False)
    console.rule("routing")
    for decision in decisions:
        scores = ", ".join(f"{d['agent']} {d['score']:.2f}" for d in decision.candidates[:4])
        console.print(
            f"{decision.created_at:%Y-%m-%d %H:%M:%S} {decision.method} → "
            f"{decision.agent or 'none'} ({decision.ms:.0f} ms) {decision.reason}"
            + (f" [{scores}]" if scores else ""),
            highlight=False,
            markup=False,
        )
    console.rule("messages")
    for message in messages:
        if message.kind is MessageKind.CARD:
            continue  # shown above
        who = message.author_name or message.author_id or message.role.value
        posted = f" · posted {message.slack_ts}" if message.slack_ts else ""
        tokens = (
            f" · {message.input_tokens + message.cache_read_tokens + message.cache_write_tokens}"
            f"/{message.output_tokens} tokens"
            if message.output_tokens
            else ""
        )
        console.print(
            f"[{message.kind.value}] {who}{posted}{tokens}",
            style="bold",
            highlight=False,
            markup=False,
        )
        console.print(message.text or "(text deleted by retention)", markup=False)


def conversation_costs(session: "Session", conversation_ids: list[int]) -> dict[str, float]:
    """Dollar cost of each conversation's replies, at the current prices (MODEL_PRICES)."""
    from bot.accounting.prices import PriceTable
    from bot.config import get_settings
    from bot.store.usage_reports import UsageGrouping, usage_totals

    prices = PriceTable(get_settings().model_prices)
    costs: dict[str, float] = {}
    for total in usage_totals(
        session=session, by=UsageGrouping.CONVERSATION, conversation_ids=conversation_ids
    ):
        costs[total.key] = costs.get(total.key, 0.0) + (
            prices.cost(total.model, total.usage) or 0.0
        )
    return costs
