"""Benchmark agent turns: the engine's own overhead per turn, and the share of input read from cache.

Run from the project root: .venv/bin/python bench/engine_turn.py [--conversations N]

1. Overhead. A loopback fake of the Messages API answers at once. Each turn is timed end to
   end (take_in, work, flush_outbox through a recording poster, on a SQLite file database),
   and so is the model call inside it (a timing wrapper around the desk's `llm.complete`).
   The engine's overhead is the turn minus the model call. As a baseline, the very requests
   the turns sent are then issued again directly through `llm.complete`, in the same run.
   With AGENTDESK_TEST_POSTGRES_URL set, the same runs on a fresh PostgreSQL database that
   is dropped afterwards.
2. Cache share. One six-turn conversation with the backend-feature-developer agent
   (request, questions, answer, ... , deliverable at turn 6), with the fake's prompt-cache
   simulation on. The token figures are read back from the stored messages, so this checks
   what the engine records.
"""

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `tests` (the fake API, the test builders) lives in the checkout
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.accounting.tokens import TokenUsage  # noqa: E402
from bot.engine.conversation_tools import ASK_QUESTIONS, DELIVER  # noqa: E402
from bot.engine.desk import Desk  # noqa: E402
from bot.engine.inbound import InboundMessage, Source  # noqa: E402
from bot.llm.client import Completion  # noqa: E402
from bot.store.db import make_engine, normalise_url  # noqa: E402
from bot.store.models import MessageKind, MessageRole  # noqa: E402
from tests.fakes.anthropic_server import (  # noqa: E402
    FakeAnthropic,
    JSONDict,
    MessageSpec,
    TextSpec,
    ToolUseSpec,
)
from tests.support import (  # noqa: E402
    RecordingPoster,
    desk_with,
    make_settings,
    stored_conversation,
)

AGENT = "backend-feature-developer"
TURNS = 6
POSTGRES_ENV = "AGENTDESK_TEST_POSTGRES_URL"

# The thread: a feature request, four rounds of answers, then "go ahead".
USER_MESSAGES: tuple[tuple[str, str], ...] = (
    (
        "alice",
        """\
We need outbound webhooks for order events so merchants stop polling us. Today about 600 \
of our 4,000 merchants call GET /v2/orders?updated_since=… every minute from their ERP or \
warehouse systems, which is now the single most expensive query on the primary database \
during the day, and it still leaves them up to a minute behind. Support also gets a steady \
stream of tickets from merchants whose integrations missed a refund or a cancellation \
because their poller was down for a while and never caught up.

What we want: a merchant registers one or more HTTPS endpoints in the dashboard (and through \
the public API), picks which events each endpoint receives, and we POST a JSON payload to it \
when something happens to an order. The events we care about first are order.created, \
order.paid, order.fulfilled, order.partially_refunded, order.refunded and order.cancelled. \
Later we will probably want customer and inventory events too, so the design should not be \
order-specific in its core.

Context on the stack: the backend is a Django 4.2 monolith on PostgreSQL 15, with Celery \
workers on Redis for background jobs (emails, invoice PDFs, search indexing). We run on \
Kubernetes in one region (eu-west-1) with three web pods and four worker pods normally, \
scaled up for sales events. We do about 2 million orders a month, with peaks around 40 \
times the average on Black Friday. Order state changes happen in a handful of service \
functions in orders/services.py, but a few older code paths still update the Order model \
directly, including the admin and two management commands.

Merchants will need to verify that a request really comes from us, we need retries when \
their endpoint is down, and both our support team and the merchant need to see what was \
delivered and what failed. Please design this and give us an implementation plan we can \
split across two backend engineers for roughly one quarter.""",
    ),
    (
        "alice",
        """\
Answers, in order. Payloads: a full snapshot of the order as our public API v2 returns it \
from GET /v2/orders/{id}, including line items, totals, addresses and the current status, \
plus an event envelope with the event id, type, the time it happened and the API version. \
Merchants told us thin events would just make them call us back immediately, which is \
exactly the load we are trying to remove. Orders can be large, though: a handful of B2B \
merchants have orders with more than 500 line items, so the payload can reach a few hundred \
kilobytes in rare cases. We are fine capping the payload and sending a link to the full \
order above some size, if you think that is needed.

Ordering: merchants care that they don't apply an older state after a newer one. Strict \
global ordering is not required, but per order we should never deliver order.paid after \
order.refunded for the same order as if it were newer. A sequence number per order in the \
envelope, which receivers can compare, would be acceptable if strict per-order delivery \
ordering is expensive; tell us the trade-off.

Endpoints: up to 10 per merchant, each with its own event selection and its own secret. \
Most merchants will have one or two. Retries: the competitor most of our merchants compare \
us with retries for three days, so anything shorter than 24 hours will generate complaints. \
After that the delivery is marked failed but stays visible and can be replayed by hand.

Bob will answer the security questions, he owns our API keys and the signing of our \
outgoing emails.""",
    ),
    (
        "bob",
        """\
On signing: HMAC-SHA256 over the timestamp and the raw body, sent in a header like \
Stripe's, so "t=<unix seconds>,v1=<hex>" in X-Shop-Signature. Merchants already know that \
scheme from Stripe and most languages have a snippet for it. We will publish verification \
snippets for Python, Node, PHP and Ruby. Receivers should reject requests older than five \
minutes, so the timestamp is part of the signed content. Secrets are generated by us, 32 \
random bytes, shown once in the dashboard and then only as the last four characters.

Secret rotation has to be possible without downtime: during a rotation we sign with both \
the old and the new secret and send two v1 values in the header, for up to 24 hours, and \
the merchant can end the rotation early. Secrets must be encrypted at rest; we already use \
django-cryptography with a key from AWS KMS for the stored OAuth tokens of our marketplace \
integrations, so reuse that.

Endpoints must be HTTPS only, and we must not let webhooks become a way to reach our \
internal network: no private, loopback or link-local addresses, resolved at delivery time \
and not only at registration, since DNS can change. Redirects should not be followed. We \
have been bitten by SSRF once through the image import feature, so please treat this \
seriously and tell us where the check lives.

Auto-disable: if an endpoint fails every delivery for three days, disable it and email the \
merchant's technical contact, with a link to re-enable it. Delivery log: keep the request, \
the response status, the first 4 KB of the response body and the timings for 30 days, \
searchable by order id and event type in the dashboard and the support admin.""",
    ),
    (
        "alice",
        """\
Infrastructure: we would rather not add Kafka or another broker just for this; the team is \
small and already runs Postgres, Redis and Celery. If a transactional outbox table in \
Postgres plus Celery workers can carry the peak, that is our preference. The problem we \
hit with Celery before is that a slow or hanging third-party endpoint ties up worker \
processes; the invoice PDF service once blocked all four workers for twenty minutes. So \
webhook deliveries must not be able to starve the other queues, and one merchant with a \
dead endpoint must not delay everyone else's deliveries.

Peak numbers to design for: on Black Friday last year we had about 9,000 order state changes \
per minute at the top, and with an average of 1.5 endpoints per subscribed merchant and \
maybe half of the merchants subscribing in the first year, plan for around 10,000 \
deliveries per minute at the peak, with retries on top when merchants' own systems fall \
over under the same load, which they do.

Timeouts: a merchant endpoint gets 10 seconds to answer, and any 2xx counts as success. \
We should not follow the response body for anything except the delivery log.

About the code paths that update Order directly: we can move the admin and the two \
management commands onto the service functions as part of this work if that makes event \
capture reliable, but we don't want to rely on Django signals; we have had bugs from \
signals firing inside transactions that were later rolled back. Whatever captures the \
event has to be committed together with the order change or not at all.""",
    ),
    (
        "bob",
        """\
Rollout and the merchant-facing parts. We want a feature flag per merchant, a closed beta \
with about twenty merchants who asked for webhooks, then general availability. During the \
beta the dashboard pages can be basic, but the public API for managing endpoints has to be \
right from the start because merchants will script against it: create, list, update, \
delete endpoints, rotate the secret, send a test event, and list and replay deliveries.

Versioning: the payload follows the merchant's pinned API version, the same way our REST \
API does, and an endpoint can pin its own version so merchants can upgrade one integration \
at a time. We have an existing serializer registry keyed by API version in api/v2/versions \
that the REST views use; the webhook payloads should come from the same serializers so the \
two never drift apart.

Observability: we use Datadog. We need per-merchant delivery success rates, latency \
percentiles, queue depth and the age of the oldest undelivered event, with an alert when \
the oldest undelivered event is more than five minutes old at the platform level. Support \
wants a way to see, for one order, every event we generated and what happened to each \
delivery, in the support admin, without asking an engineer.

Replays: merchants should be able to replay a single delivery, or all failed deliveries of \
an endpoint in a time range, for example after fixing a bug on their side. Replays must be \
rate-limited so one merchant replaying a week of events cannot flood the workers.""",
    ),
    (
        "alice",
        """\
That covers it, I think. Please go ahead and write up the full design and the plan with \
your stated defaults. Two last constraints: the first milestone that the beta merchants can \
use should be reachable in about six weeks with two engineers, so please order the steps so \
that delivery, signing and retries come before the replay and dashboard polish; and list \
the database migrations separately, because our DBA reviews every migration that touches \
the orders tables before it ships, and the orders table is large (about 60 million rows), \
so anything that rewrites it or takes a long lock is out.""",
    ),
)

AGENT_QUESTIONS: tuple[JSONDict, ...] = (
    {
        "intro": "Before I design this, a few questions about the payloads and guarantees:",
        "questions": [
            {
                "question": "Should a webhook carry the full order or only ids?",
                "choices": ["Full snapshot", "Thin event, fetch via API", "Both, per endpoint"],
            },
            {
                "question": "What ordering do receivers need?",
                "choices": ["Strict per order", "Sequence numbers are enough", "None"],
            },
            {"question": "How many endpoints may one merchant register?"},
            {
                "question": "How long should we keep retrying a failing delivery?",
                "choices": ["1 hour", "24 hours", "3 days"],
            },
        ],
    },
    {
        "intro": "Thanks. Now the security side:",
        "questions": [
            {
                "question": "Which signature scheme should receivers verify?",
                "choices": ["HMAC-SHA256 with timestamp", "Asymmetric (Ed25519)", "mTLS"],
            },
            {"question": "How should secret rotation work without downtime?"},
            {"question": "Which destinations must we refuse (SSRF)?"},
            {"question": "When should we disable an endpoint that keeps failing?"},
        ],
    },
    {
        "intro": "Clear. A few questions about infrastructure and capture:",
        "questions": [
            {
                "question": "May we add a message broker, or stay on Postgres and Celery?",
                "choices": ["Stay on Postgres + Celery", "Add a broker"],
            },
            {"question": "What peak delivery rate should we plan for?"},
            {"question": "What timeout and success rule apply to merchant endpoints?"},
            {"question": "Can the direct Order updates move onto the service functions?"},
        ],
    },
    {
        "intro": "Last round, about the merchant-facing side:",
        "questions": [
            {
                "question": "How do we roll this out?",
                "choices": ["Flag per merchant + beta", "Everyone at once"],
            },
            {"question": "Which API version do payloads follow?"},
            {"question": "What monitoring and alerts do you need?"},
            {"question": "Which replays should merchants be able to trigger?"},
        ],
    },
    {
        "intro": "I have what I need. Before I write it up:",
        "questions": [
            {
                "question": "Is there a deadline for the first usable milestone?",
                "choices": ["6 weeks", "One quarter", "No deadline"],
            },
            {"question": "Anything about migrations I should respect?"},
        ],
    },
)

PLAN: JSONDict = {
    "title": "Outbound webhooks for order events",
    "summary": (
        "A transactional outbox in Postgres captures order events with the order change; a "
        "dedicated Celery queue delivers them with HMAC signatures, per-endpoint retries for "
        "three days and SSRF checks at delivery time. Milestone 1 (six weeks) ships capture, "
        "delivery, signing and retries to the beta merchants."
    ),
    "document": "\n\n".join(
        [
            "## Context and goals\n\nMerchants poll GET /v2/orders every minute; webhooks "
            "replace polling with signed, retried, ordered-per-order deliveries.",
            "## Design\n\n"
            + "\n".join(
                f"- **{part}**: {what}"
                for part, what in [
                    ("Capture", "an `event_outbox` row written in the same transaction"),
                    ("Fan-out", "a relay turns outbox rows into per-endpoint deliveries"),
                    ("Delivery", "a dedicated `webhooks` Celery queue with a 10 s timeout"),
                    ("Ordering", "a per-order sequence number in the envelope"),
                    ("Signing", "`X-Shop-Signature: t=…,v1=…`, two v1 values while rotating"),
                    ("SSRF", "resolve, check and pin the address at delivery time"),
                    ("Retries", "exponential backoff with jitter for three days"),
                ]
            ),
            "## Implementation plan\n\n"
            + "\n".join(
                f"{number}. {step}"
                for number, step in enumerate(
                    [
                        "Outbox table and capture in the order service functions.",
                        "Move the admin and management commands onto the services.",
                        "Endpoint model, encrypted secrets, public API for endpoints.",
                        "Relay and delivery worker on their own queue and pods.",
                        "Signing, rotation and verification snippets.",
                        "Retries, auto-disable and the notification email.",
                        "Delivery log, replay API with rate limits, dashboard pages.",
                        "Datadog metrics and the oldest-undelivered-event alert.",
                    ],
                    start=1,
                )
            ),
            "## Migrations\n\n1. `event_outbox` (new table).\n2. `webhook_endpoint`.\n"
            "3. `webhook_delivery`, partitioned by day.\nNone of them touches `orders`.",
            "## Risks\n\n- Relay lag at peak: measure the oldest undelivered event.\n"
            "- Large B2B orders: cap payloads at 256 KB and link to the full order above it.",
        ]
    ),
}


def reply_for(body: JSONDict) -> MessageSpec:
    """The agent's answer to a request: questions for turns 1 to 5, the plan at turn 6."""
    turn = 1 + sum(1 for message in body["messages"] if message["role"] == "assistant")
    if turn >= TURNS:
        return MessageSpec(content=[TextSpec("Here is the plan."), ToolUseSpec(DELIVER, PLAN)])
    return MessageSpec(content=[ToolUseSpec(ASK_QUESTIONS, AGENT_QUESTIONS[turn - 1])])


def inbound(*, thread: int, turn: int) -> InboundMessage:
    """The person's message of a turn (1-based) in conversation `thread`."""
    name, words = USER_MESSAGES[turn - 1]
    user = {"alice": "U0ALICE", "bob": "U0BOB"}[name]
    thread_ts = f"{1_700_000_000 + thread * 1000}.000100"
    ts = f"{1_700_000_000 + thread * 1000 + turn}.000100"
    return InboundMessage(
        team_id="T0BENCH",
        channel_id="C0BENCH",
        thread_ts=thread_ts,
        ts=ts,
        user_id=user,
        user_name=name,
        text=words,
        source=Source.MENTION if turn == 1 else Source.THREAD,
        explicit_agent=AGENT if turn == 1 else None,  # routing stays out of the model path
        event_keys=(f"msg:T0BENCH:C0BENCH:{ts}",),
    )


# Timing ---------------------------------------------------------------------------------------


@dataclass
class ModelCall:
    """One `llm.complete` call as the engine made it."""

    seconds: float
    request: dict[str, Any]
    usage: TokenUsage


class TimedComplete:
    """Wraps a client's `complete`, recording each call's time, arguments and usage."""

    def __init__(self, desk: Desk) -> None:
        self.original = desk.llm.complete
        self.calls: list[ModelCall] = []
        desk.llm.complete = self  # type: ignore[method-assign]

    def __call__(self, **request: Any) -> Completion:
        start = time.perf_counter()
        completion = self.original(**request)
        self.calls.append(ModelCall(time.perf_counter() - start, request, completion.usage))
        return completion


@dataclass(frozen=True)
class TurnSample:
    """Where one turn's time went."""

    total: float
    take_in: float
    work: float  # includes the model call and the poster flush run_work does
    flush: float
    model: float

    @property
    def overhead(self) -> float:
        """Everything but the model call."""
        return self.total - self.model


def run_turn(
    desk: Desk, timer: TimedComplete, poster: RecordingPoster, *, thread: int, turn: int
) -> TurnSample:
    """One full turn, timed part by part; checks it made one model call and posted one reply."""
    message = inbound(thread=thread, turn=turn)
    calls, posted = len(timer.calls), len(poster.posted)
    start = time.perf_counter()
    intake = desk.take_in(message)
    taken = time.perf_counter()
    ran = desk.work(poster=poster, conversation_id=intake.conversation_id)
    worked = time.perf_counter()
    desk.flush_outbox(poster, conversation_id=intake.conversation_id)
    end = time.perf_counter()
    new_calls = timer.calls[calls:]
    # The requirement card is posted (or edited) beside the reply; the reply is what counts.
    replies = [r for r in poster.posted[posted:] if r.kind is not MessageKind.CARD]
    if ran != 1 or len(new_calls) != 1 or len(replies) != 1:
        raise SystemExit(
            f"turn {turn} of thread {thread}: ran {ran} turn(s), {len(new_calls)} model "
            f"call(s), posted {len(replies)} reply(ies); expected 1, 1, 1"
        )
    expected = MessageKind.DELIVERABLE if turn == TURNS else MessageKind.QUESTIONS
    if replies[0].kind is not expected:
        raise SystemExit(f"turn {turn}: posted a {replies[0].kind}, not a {expected}")
    return TurnSample(
        total=end - start,
        take_in=taken - start,
        work=worked - taken,
        flush=end - worked,
        model=new_calls[0].seconds,
    )


@dataclass(frozen=True)
class OverheadResult:
    """Turn samples and the bare-call baseline of one database."""

    database: str
    turns: list[TurnSample]
    bare_calls: list[float]
    conversations: int


def measure_overhead(
    database: str, database_url: str | None, *, conversations: int, repeats: int
) -> OverheadResult:
    """Time `conversations` six-turn conversations (after one warm-up), then the bare calls."""
    with tempfile.TemporaryDirectory(prefix="agentdesk-bench-") as temp, FakeAnthropic() as fake:
        fake.default = reply_for
        overrides = {"database_url": database_url} if database_url else {}
        with desk_with(make_settings(Path(temp), fake, **overrides)) as desk:
            timer = TimedComplete(desk)
            poster = RecordingPoster()
            for turn in range(1, TURNS + 1):  # warm-up: SDK client, connections, caches
                run_turn(desk, timer, poster, thread=0, turn=turn)
            warm_calls = len(timer.calls)
            samples = [
                run_turn(desk, timer, poster, thread=thread, turn=turn)
                for thread in range(1, conversations + 1)
                for turn in range(1, TURNS + 1)
            ]
            # Baseline: the very requests the measured turns sent, issued again directly.
            requests = [call.request for call in timer.calls[warm_calls:]]
            bare: list[float] = []
            for _ in range(repeats):
                for request in requests:
                    start = time.perf_counter()
                    timer.original(**request)
                    bare.append(time.perf_counter() - start)
            if fake.failures:
                raise SystemExit(f"the fake API reported problems: {fake.failures}")
    return OverheadResult(database, samples, bare, conversations)


@contextmanager
def postgres_database(url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of `url`, dropped afterwards."""
    admin = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    name = f"agentdesk_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(normalise_url(url)).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# Cache share ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheTurn:
    """The token split of one turn, as stored with the agent's reply."""

    turn: int
    kind: str
    input: int
    read: int
    write: int

    @property
    def total(self) -> int:
        """Every input token of the call."""
        return self.input + self.read + self.write


@dataclass(frozen=True)
class CacheResult:
    """The six stored turns, whether they match the API's usage, and a second thread's start."""

    turns: list[CacheTurn]
    matches_api: bool
    totals_match: bool
    next_thread_first_turn: CacheTurn


def measure_cache() -> CacheResult:
    """Run one six-turn conversation (then one turn of a second) with a cold simulated cache."""
    with tempfile.TemporaryDirectory(prefix="agentdesk-bench-") as temp, FakeAnthropic() as fake:
        fake.default = reply_for
        with desk_with(make_settings(Path(temp), fake)) as desk:
            timer = TimedComplete(desk)
            poster = RecordingPoster()
            for turn in range(1, TURNS + 1):
                run_turn(desk, timer, poster, thread=1, turn=turn)
            stored = [
                m
                for m in desk.messages(1)
                if m.role is MessageRole.ASSISTANT
                and m.kind in (MessageKind.QUESTIONS, MessageKind.DELIVERABLE)
            ]
            turns = [
                CacheTurn(
                    turn=number,
                    kind=m.kind.value,
                    input=m.input_tokens,
                    read=m.cache_read_tokens,
                    write=m.cache_write_tokens,
                )
                for number, m in enumerate(stored, start=1)
            ]
            api = [call.usage for call in timer.calls]
            matches_api = len(api) == len(turns) and all(
                (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens)
                == (t.input, t.read, t.write)
                for u, t in zip(api, turns, strict=False)
            )
            conversation = stored_conversation(desk, 1)
            assert conversation is not None
            totals_match = (
                conversation.input_tokens == sum(t.input for t in turns)
                and conversation.cache_read_tokens == sum(t.read for t in turns)
                and conversation.cache_write_tokens == sum(t.write for t in turns)
            )
            # A second thread for the same agent shares the tools + system prefix.
            run_turn(desk, timer, poster, thread=2, turn=1)
            first = timer.calls[-1].usage
            next_first = CacheTurn(
                1,
                "questions",
                first.input_tokens,
                first.cache_read_tokens,
                first.cache_write_tokens,
            )
    return CacheResult(turns, matches_api, totals_match, next_first)


# Output ---------------------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    """Seconds as milliseconds."""
    return f"{seconds * 1e3:.2f} ms"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print rows under a header: the first column left-aligned, the rest right-aligned."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for index, row in enumerate([header, *rows]):
        cells = [
            f"{cell:<{widths[i]}}" if i == 0 else f"{cell:>{widths[i]}}"
            for i, cell in enumerate(row)
        ]
        print("  ".join(cells).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))


def print_overhead(result: OverheadResult) -> None:
    """The overhead table of one database."""
    turns = result.turns
    print(
        f"== Engine overhead per turn: {result.database}, {len(turns)} turns over "
        f"{result.conversations} six-turn conversations (after one warm-up conversation)"
    )

    def row(label: str, values: Sequence[float], unit: str = "ms") -> list[str]:
        if unit == "%":
            return [label, f"{statistics.median(values):.0%}", f"{percentile(values, 0.95):.0%}"]
        return [label, ms(statistics.median(values)), ms(percentile(values, 0.95))]

    bare = result.bare_calls
    table(
        ["measure", "median", "p95"],
        [
            row("full turn (take_in + work + flush_outbox)", [t.total for t in turns]),
            row("  model call inside the turn", [t.model for t in turns]),
            row("  engine overhead (turn - model call)", [t.overhead for t in turns]),
            row("    take_in", [t.take_in for t in turns]),
            row("    work, without the model call", [t.work - t.model for t in turns]),
            row("    flush_outbox (nothing left to post)", [t.flush for t in turns]),
            row("overhead share of the turn", [t.overhead / t.total for t in turns], "%"),
            row(f"bare model call (same requests, n={len(bare)})", bare),
        ],
    )
    median_bare = statistics.median(bare)
    median_turn = statistics.median(t.total for t in turns)
    median_overhead = statistics.median(t.overhead for t in turns)
    print(
        f"ratios of medians: full turn / bare call = {median_turn / median_bare:.1f}x, "
        f"engine overhead / bare call = {median_overhead / median_bare:.1f}x"
    )
    print()


def print_cache(result: CacheResult) -> None:
    """The per-turn cache table."""
    print(
        f"== Prompt cache over one six-turn conversation ({AGENT}, fake cache simulation, "
        "cache_min_tokens=0, cold cache)"
    )
    words = [len(text.split()) for _, text in USER_MESSAGES]
    print(f"user messages: {min(words)}-{max(words)} words; figures read from the stored replies")

    def row(label: str, kind: str, values: Sequence[CacheTurn]) -> list[str]:
        read = sum(t.read for t in values)
        total = sum(t.total for t in values)
        return [
            label,
            kind,
            f"{sum(t.input for t in values):,}",
            f"{read:,}",
            f"{sum(t.write for t in values):,}",
            f"{total:,}",
            f"{read / total:.0%}" if total else "-",
        ]

    rows = [row(str(t.turn), t.kind, [t]) for t in result.turns]
    rows.append(row("all six", "", result.turns))
    table(["turn", "reply", "input", "cache_read", "cache_write", "total in", "read share"], rows)
    print(
        "share read = cache_read / (input + cache_read + cache_write); "
        f"stored figures match the API responses: {'yes' if result.matches_api else 'NO'}; "
        f"conversation totals match: {'yes' if result.totals_match else 'NO'}"
    )
    later = result.turns[1:]
    later_share = sum(t.read for t in later) / sum(t.total for t in later)
    nxt = result.next_thread_first_turn
    print(
        f"turns 2-6 alone: {later_share:.0%} read. The first turn of a second thread with "
        f"the same agent (warm cache) reads the shared tools + system prefix: "
        f"{nxt.read:,} of {nxt.total:,} tokens ({nxt.read / nxt.total:.0%})"
    )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--conversations", type=int, default=5, help="measured six-turn conversations (5)"
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="times each request is re-sent as a bare call (1)"
    )
    args = parser.parse_args()
    conversations, repeats = max(1, args.conversations), max(1, args.repeats)

    results = [
        measure_overhead("SQLite file (WAL)", None, conversations=conversations, repeats=repeats)
    ]
    postgres_url = os.environ.get(POSTGRES_ENV)
    if postgres_url:
        with postgres_database(postgres_url) as url:
            results.append(
                measure_overhead(
                    "PostgreSQL (fresh database)",
                    url,
                    conversations=conversations,
                    repeats=repeats,
                )
            )
    print("fake Messages API on loopback, answering at once\n")
    for result in results:
        print_overhead(result)
    if not postgres_url:
        print(f"(PostgreSQL skipped: set {POSTGRES_ENV} to run it too)\n")
    print_cache(measure_cache())


if __name__ == "__main__":
    main()
