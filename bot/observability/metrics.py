"""Every Prometheus metric agentdesk exports, and the few helpers that record them.

`GET /metrics` on the serve port returns them in the Prometheus text format. Counters and
histograms add up over `agentdesk serve` and the worker processes it starts (prometheus_client's
multiprocess mode); other processes (`agentdesk work` elsewhere) are scraped on their own. The
queue gauges are read from the database at scrape time: every process reports the same queue.
"""

import os
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from bot.accounting.tokens import TokenUsage

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response


class QueueReading(Protocol):
    """What `GET /metrics` reads of the queue at scrape time."""

    @property
    def queued(self) -> int: ...
    @property
    def running(self) -> int: ...
    @property
    def oldest_wait_seconds(self) -> float: ...


_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
_SLOW = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)

SLACK_ACK_SECONDS = Histogram(
    "agentdesk_slack_ack_seconds",
    "Time from receiving a Slack HTTP request to answering it (Slack allows 3 s).",
    buckets=_FAST,
)
TURNS = Counter(
    "agentdesk_turns_total",
    "Agent turns by how they ended: awaiting_user, delivered, failed, over_budget.",
    ["outcome"],
)
QUEUE_DEPTH = Gauge(
    "agentdesk_queue_depth",
    "Turns waiting or running, across all processes.",
    ["state"],
    multiprocess_mode="mostrecent",
)
QUEUE_OLDEST_WAIT_SECONDS = Gauge(
    "agentdesk_queue_oldest_wait_seconds",
    "How long the oldest queued turn has waited.",
    multiprocess_mode="mostrecent",
)
QUEUE_WAIT_SECONDS = Histogram(
    "agentdesk_queue_wait_seconds",
    "Time a turn waited in the queue before a worker started it.",
    buckets=_SLOW,
)
MODEL_SECONDS = Histogram(
    "agentdesk_model_request_seconds",
    "Latency of one Messages API request, retries included, by model and result.",
    ["model", "result"],
    buckets=_SLOW,
)
MODEL_TOKENS = Counter(
    "agentdesk_model_tokens_total",
    "Tokens of agent turns by agent and kind (input, output, cache_read, cache_write).",
    ["agent", "kind"],
)
MODEL_COST_DOLLARS = Counter(
    "agentdesk_model_cost_dollars_total",
    "Dollar cost of agent turns by agent, at the price table's prices (MODEL_PRICES).",
    ["agent"],
)
SLACK_API_ERRORS = Counter(
    "agentdesk_slack_api_errors_total",
    "Slack Web API calls that failed, by method and error (HTTP status, `error`, connection).",
    ["method", "error"],
)


def turn_waited(*, available_at: datetime, now: datetime) -> None:
    """A worker started a turn that was claimable since `available_at`."""
    QUEUE_WAIT_SECONDS.observe(max(0.0, (now - available_at).total_seconds()))


def turn_spent(*, agent: str, usage: TokenUsage, cost: float | None) -> None:
    """Count an agent turn's tokens and dollars (`cost`: None when its model has no price)."""
    for kind, count in (
        ("input", usage.input_tokens),
        ("output", usage.output_tokens),
        ("cache_read", usage.cache_read_tokens),
        ("cache_write", usage.cache_write_tokens),
    ):
        if count:
            MODEL_TOKENS.labels(agent=agent, kind=kind).inc(count)
    if cost:
        MODEL_COST_DOLLARS.labels(agent=agent).inc(cost)


def _registry() -> CollectorRegistry:
    """This process's metrics, or, with worker processes (PROMETHEUS_MULTIPROC_DIR), the sum
    over this process and its workers."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def metrics_endpoint(
    read_queue: Callable[[], QueueReading],
) -> Callable[["Request"], Awaitable["Response"]]:
    """The `GET /metrics` handler: reads the queue (from the database), then renders it all."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response

    async def metrics(_: "Request") -> "Response":
        try:
            stats = await run_in_threadpool(read_queue)
        except Exception:  # the database is down: the rest still tells a story
            QUEUE_DEPTH.clear()
        else:
            QUEUE_DEPTH.labels(state="queued").set(stats.queued)
            QUEUE_DEPTH.labels(state="running").set(stats.running)
            QUEUE_OLDEST_WAIT_SECONDS.set(stats.oldest_wait_seconds)
        return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)

    return metrics
