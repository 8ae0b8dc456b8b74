"""Benchmark concurrent turns: N people mention the bot at the same moment; when are all answered?

Run from the project root: .venv/bin/python bench/concurrency.py [--threads 20,200]
    [--databases sqlite,postgres] [--model-seconds 2] [--statements] [--warm-up]

Two servers, each its own process on a loopback port, take the same bursts one after the
other, each with its own fresh fake Slack and fake model (answering every call after
`--model-seconds`):

* agentdesk: `agentdesk serve` with its default settings (its worker processes included);
* reference: the reference bot (`bench/reference_bot.py`): a minimal Bolt app that makes one
  model call per mention with one agent's system prompt, keeps a SQLite dedupe table of
  event ids and posts the answer in the thread with `chat.postMessage`, from a 32-thread pool.

N threads, each a distinct person in one of ten channels, each POST one signed `app_mention`
at the same moment (a barrier releases them). The last answer's time runs from the first send
to the moment the last of the N threads shows the agent's answer in the fake Slack (polled
every 20 ms). It is set against each bot's ideal. agentdesk's: its model calls one after
another, as if every conversation ran at once with no overhead: the most model calls any one
conversation made (routing calls plus agent calls, read from the fake model's requests: a
routing call is one that forces the router's tool) times `--model-seconds` (its defaults run
200 turns and 200 model calls at once, so none waits for another at these sizes). The
reference bot's: its one call, in waves of 32 (its pool): ceil(N/32) x `--model-seconds`.
CPU is user plus system time of the server's process tree (from /proc/PID/stat) from just
before the sends to the last answer, divided by N; RSS is read before and after. One second
after the last answer the Slack Web API calls the fake recorded during the burst are counted
per conversation; with `--statements` agentdesk's processes also count the SQL statements
they send (bench/statement_counting/, which adds its own cost to agentdesk's CPU figure in
that run). Each burst meets a server that has answered nothing yet (agentdesk imports the
model SDK, among others, on its first turn); with `--warm-up` it first answers one
conversation of someone else's, not counted.
PostgreSQL runs use a fresh database (CREATE DATABASE, dropped afterwards) on
AGENTDESK_TEST_POSTGRES_URL's server (default: the local test server); the reference bot
always keeps its dedupe table in SQLite.

Targets (issue 10): 20 threads <= 1.3x the ideal, 200 threads <= 2x, RSS growth <= 60 MB
for 200.
"""

import argparse
import json
import math
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reference_bot import POOL_THREADS
from served import (
    Burst,
    TimedModel,
    burst,
    channels,
    checkout,
    default_settings,
    fake_slack,
    fresh_database,
    load_average,
    mentions_by,
    model_answering_in,
    people,
    served_app,
    served_reference_bot,
    statement_counting,
    statements_so_far,
)

from bot.routing.model_classifier import TOOL_NAME as ROUTING_TOOL
from tests.fakes.anthropic_server import RecordedRequest
from tests.fakes.slack_server import FakeSlack

CHANNELS = 10
TARGETS = {20: 1.3, 200: 2.0}
RSS_TARGET_MB = 60.0
WARM_UP_USER = "UWARMUP"
SETTLE_SECONDS = 1.0  # after the last answer, before counting Slack calls and statements
_SERVICE = re.compile(r"service (\d+)\b")


@dataclass
class Run:
    """One bot taking one burst."""

    bot: str
    burst: Burst
    routing_calls: int
    agent_calls: int
    chained_calls: int  # the most model calls one conversation made
    first_call: float
    last_call: float
    slack_calls: Counter[str]
    statements: Counter[str] | None

    @property
    def people(self) -> int:
        return sum(self.burst.statuses.values())

    def ideal(self, model_seconds: float) -> float:
        """Its model calls one after another, in as many waves as its pool makes."""
        waves = 1 if self.bot == "agentdesk" else math.ceil(self.people / POOL_THREADS)
        return waves * self.chained_calls * model_seconds

    def cpu_ms(self) -> float:
        return self.burst.cpu / self.people * 1000


def model_calls(requests: list[RecordedRequest]) -> tuple[int, int, int]:
    """Routing calls, agent calls, and the most calls any one conversation made (each
    conversation's request names its service number)."""
    routing = agent = 0
    per_conversation: Counter[str] = Counter()
    for request in requests:
        body = request.body
        if (body.get("tool_choice") or {}).get("name") == ROUTING_TOOL:
            routing += 1
        else:
            agent += 1
        found = _SERVICE.findall(json.dumps(body["messages"][-1]))
        per_conversation[found[-1] if found else "?"] += 1
    return routing, agent, max(per_conversation.values(), default=0)


@contextmanager
def agentdesk(
    *, slack: FakeSlack, model: TimedModel, database: str, workdir: Path, **settings: str
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`agentdesk serve` on a fresh `database` (sqlite or postgres)."""
    with (
        fresh_database(database, workdir) as url,
        served_app(slack=slack, model=model, database_url=url, workdir=workdir, **settings) as app,
    ):
        yield app


def take_burst(
    *,
    bot: str,
    database: str,
    threads: int,
    model_seconds: float,
    workdir: Path,
    count_statements: bool,
    warm_up: bool,
) -> Run:
    """A fresh server of `bot` (agentdesk on a fresh `database`, or the reference bot) and
    fresh fakes; `threads` people mention it at the same moment (after one conversation of
    someone else's, answered, with `warm_up`)."""
    users = people(threads)
    channel_ids = channels(CHANNELS)
    counts = workdir / f"statements-{time.monotonic_ns()}"
    with (
        fake_slack(users=[*users, WARM_UP_USER], channel_ids=channel_ids) as slack,
        model_answering_in(model_seconds) as model,
    ):
        if bot == "agentdesk":
            extra = statement_counting(counts) if count_statements else {}
            server = agentdesk(
                slack=slack, model=model, database=database, workdir=workdir, **extra
            )
        else:
            server = served_reference_bot(slack=slack, model=model, workdir=workdir)
        with server as (process, port):
            if warm_up:
                first = mentions_by(
                    slack, users=[WARM_UP_USER], channel_ids=channel_ids, prefix="W"
                )
                burst(slack=slack, server=process, port=port, mentions=first)
                time.sleep(SETTLE_SECONDS)
            mentions = mentions_by(slack, users=users, channel_ids=channel_ids, prefix="BENCH")
            slack.reset_calls()
            earlier_calls = len(model.message_requests)
            before = statements_so_far(counts) if bot == "agentdesk" and count_statements else None
            taken = burst(
                slack=slack,
                server=process,
                port=port,
                mentions=mentions,
                profile=bot == "agentdesk",  # AGENTDESK_BENCH_PROFILE samples agentdesk alone
            )
            time.sleep(SETTLE_SECONDS)
            slack_calls = Counter(method for method, _ in slack.calls)
            statements = None
            if before is not None:
                statements = statements_so_far(counts)
                statements.subtract(before)
        problems = [*slack.errors, *model.failures]
        if problems:
            raise RuntimeError(f"the fakes saw problems: {problems[:5]}")
        arrivals = [arrival - taken.started for arrival in model.arrivals[earlier_calls:]]
        routing, agent, chained = model_calls(model.message_requests[earlier_calls:])
        return Run(
            bot,
            taken,
            routing,
            agent,
            chained,
            min(arrivals),
            max(arrivals),
            slack_calls,
            statements,
        )


def per_conversation(counts: Counter[str], people: int) -> str:
    """`total (each: share, …)` per conversation, most frequent first."""
    total = sum(counts.values()) / people
    parts = ", ".join(f"{name} {n / people:.1f}" for name, n in counts.most_common() if n > 0)
    return f"{total:.1f} ({parts})"


def most_sent(statements: Counter[str], people: int, shown: int = 8) -> str:
    """The statements sent most (first word and first table), per conversation."""
    return ", ".join(f"{shape} {n / people:.1f}" for shape, n in statements.most_common(shown))


def report(runs: list[Run], *, database: str, threads: int, model_seconds: float) -> None:
    """The rows of one burst size: both bots, their ratios, and what explains them."""
    header = f"  {'bot':<10} {'acks':>8} {'first':>7} {'last':>7} {'ideal':>6} {'last/ideal':>10}"
    header += f" {'CPU/conv':>9} {'RSS before':>11} {'after':>8}"
    print(f"{database}, {threads} people at once (load average {load_average()}):")
    print(header)
    for run in runs:
        taken = run.burst
        acks = ",".join(f"{n}x{s}" for s, n in sorted(taken.statuses.items()))
        ideal = run.ideal(model_seconds)
        line = f"  {run.bot:<10} {acks:>8} {taken.first_answer:>6.2f}s {taken.wall:>6.2f}s"
        line += f" {ideal:>5.1f}s {taken.wall / ideal:>9.2f}x {run.cpu_ms():>6.0f} ms"
        line += f" {taken.rss_before:>9.1f}MB {taken.rss_after:>6.1f}MB"
        print(line)
    desk, reference = runs
    target = TARGETS.get(threads)
    ratio = desk.burst.wall / desk.ideal(model_seconds)
    verdict = ""
    if target is not None:
        verdict = f" (target <= {target}x: {'ok' if ratio <= target else 'MISSED'})"
    growth = desk.burst.rss_after - desk.burst.rss_before
    rss = ""
    if threads >= 200:
        rss = f"; RSS growth {growth:+.1f} MB ({'ok' if growth <= RSS_TARGET_MB else 'MISSED'})"
    print(f"  agentdesk against its ideal: {ratio:.2f}x{verdict}{rss}")
    print(
        f"  agentdesk/reference: last answer {desk.burst.wall / reference.burst.wall:.2f}x,"
        f" CPU a conversation {desk.cpu_ms() / reference.cpu_ms():.2f}x"
    )
    for run in runs:
        calls = run.routing_calls + run.agent_calls
        print(
            f"  {run.bot}: model asked {calls} times ({run.routing_calls} routing,"
            f" {run.agent_calls} agent; at most {run.chained_calls} in one conversation),"
            f" first at {run.first_call:.2f}s, last at {run.last_call:.2f}s after the sends"
        )
        each = " + ".join(f"{used:.2f}" for used in run.burst.cpu_each)
        split = (
            f" ({each}: the server first, then its worker processes)"
            if len(run.burst.cpu_each) > 1
            else ""
        )
        print(
            f"  {run.bot}: CPU {run.burst.cpu:.2f}s{split}; bench and fakes CPU"
            f" {run.burst.own_cpu:.2f}s"
        )
        print(
            f"  {run.bot}: Slack calls a conversation"
            f" {per_conversation(run.slack_calls, run.people)}"
        )
        if run.statements is not None:
            kinds: Counter[str] = Counter()
            for shape, n in run.statements.items():
                kinds[shape.split()[0]] += n
            print(
                f"  {run.bot}: SQL statements a conversation {per_conversation(kinds, run.people)};"
                f" most sent: {most_sent(run.statements, run.people)}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="20,200", help="comma-separated thread counts")
    parser.add_argument("--databases", default="sqlite,postgres", help="sqlite and/or postgres")
    parser.add_argument("--model-seconds", type=float, default=2.0)
    parser.add_argument(
        "--statements", action="store_true", help="count agentdesk's SQL statements (costs CPU)"
    )
    parser.add_argument(
        "--warm-up", action="store_true", help="one conversation answered before each burst"
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.threads.split(",")]
    databases = args.databases.split(",")
    print(f"checkout: {checkout()}; load average at start {load_average()}")
    print(f"agentdesk settings: defaults ({default_settings()})")
    print(
        f"model: answers each call after {args.model_seconds:.1f} s; {CHANNELS} channels;"
        f" one person a mention; ideal = model calls one after another x {args.model_seconds:.1f} s"
        f" (the reference bot's: in waves of its {POOL_THREADS}-thread pool)"
    )
    if args.warm_up:
        print("each server answers one conversation before its burst (not counted)")
    print()
    with tempfile.TemporaryDirectory(prefix="agentdesk-bench-") as tmp:
        for database in databases:
            for count in counts:
                runs = [
                    take_burst(
                        bot=bot,
                        database=database,
                        threads=count,
                        model_seconds=args.model_seconds,
                        workdir=Path(tmp),
                        count_statements=args.statements,
                        warm_up=args.warm_up,
                    )
                    for bot in ("agentdesk", "reference")
                ]
                report(runs, database=database, threads=count, model_seconds=args.model_seconds)
                print(flush=True)


if __name__ == "__main__":
    main()
