"""Benchmark a big database: the time to take in and answer one message, with 1,000 and with
1,000,000 stored conversations on PostgreSQL.

Run from the project root: .venv/bin/python bench/scale.py [--sizes 1000,1000000]
    [--messages 21] [--budget USD]

Each size gets a fresh PostgreSQL database (CREATE DATABASE on AGENTDESK_TEST_POSTGRES_URL's
server, default the local test server; dropped afterwards), migrated, then bulk-loaded with
INSERT ... SELECT generate_series: per conversation 4 messages (two from the person, the
agent's questions and its plan, all posted), 2 finished turns, 2 finished taken-in requests
and 2 seen-event keys - everything kept, as if nothing was ever pruned. The conversations
span a year, 50 channels and 2,000 people (the channels and people the messages below come
from among them); 1% are awaiting an answer, 2% failed, the rest delivered, cancelled or
closed. Then VACUUM ANALYZE.

`agentdesk serve` runs as its own process (its defaults, except SCHEDULER_IN_PROCESS=false as
in a many-process deployment: the follow-up sweep is not what is measured) against the
loopback fake Slack and a fake model that answers at once; `--budget` sets
CHANNEL_MONTHLY_BUDGET_USD (far above the spend), so every turn also sums its channel's spend
this month. One person at a time mentions the
bot in a new thread; the time runs from the signed POST to the agent's answer showing in the
fake Slack (polled every 2 ms). Two warm-up messages are not counted; the median of the rest
is reported for each size, and the ratio of the two medians.

Target (issue 13): the 1,000,000 median <= 1.2x the 1,000 median.
"""

import argparse
import http.client
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from served import (
    AGENT,
    ANSWER_MARK,
    channels,
    fake_slack,
    fresh_database,
    mentions_by,
    model_answering_in,
    people,
    post_signed,
    served_app,
)
from sqlalchemy import text

from bot.store.db import make_engine, upgrade
from tests.fakes.slack_server import FakeSlack, visible_text

TARGET = 1.2
WARM_UP = 2
LOADED_CHANNELS = 50
LOADED_PEOPLE = 2000
ANSWER_TIMEOUT_SECONDS = 30.0

# One statement per table; :n is the number of conversations. Conversation c spans the year
# before now (oldest first); its thread ts values never clash with the fake Slack's.
LOAD = {
    "conversation": """
        INSERT INTO conversation (
            id, team_id, channel_id, thread_ts, source, agent, status, requester_id,
            requester_name, title, created_at, updated_at, last_activity_at, reminders_sent,
            input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
        SELECT c, 'T0001', 'C0BENCH' || lpad((c % :channels)::text, 2, '0'),
            (1600000000 + c)::text || '.000100', 'mention', :agent,
            CASE WHEN c > :n - :n / 100 THEN 'awaiting_user'
                 WHEN c % 50 = 1 THEN 'failed'
                 WHEN c % 20 = 0 THEN 'cancelled'
                 WHEN c % 10 = 2 THEN 'delivered'
                 ELSE 'closed' END,
            'U' || lpad((c % :people)::text, 5, '0'), 'Person', 'Request number ' || c,
            at, at, at + interval '1 hour', 0, 2400, 800, 0, 0
        FROM generate_series(1, :n) AS c,
            LATERAL (SELECT now() - make_interval(secs => (:n - c)::float8 / :n * 31536000)
                     AS at) AS moment
    """,
    "message": """
        INSERT INTO message (
            id, conversation_id, role, kind, author_id, text, slack_ts, post_state, model,
            input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, created_at,
            posted_at)
        SELECT (c - 1) * 4 + k, c,
            CASE WHEN k % 2 = 1 THEN 'user' ELSE 'assistant' END,
            CASE k WHEN 2 THEN 'questions' WHEN 4 THEN 'deliverable' ELSE 'text' END,
            CASE WHEN k % 2 = 1 THEN 'U' || lpad((c % :people)::text, 5, '0') END,
            repeat('Some words about the request. ', 8),
            (1600000000 + c)::text || '.00010' || k,
            CASE WHEN k % 2 = 1 THEN 'not_posted' ELSE 'posted' END,
            CASE WHEN k % 2 = 0 THEN 'claude-sonnet-4-5' END,
            CASE WHEN k % 2 = 0 THEN 1200 ELSE 0 END, CASE WHEN k % 2 = 0 THEN 400 ELSE 0 END,
            0, 0, at + make_interval(mins => k), CASE WHEN k % 2 = 0 THEN at END
        FROM generate_series(1, :n) AS c, generate_series(1, 4) AS k,
            LATERAL (SELECT now() - make_interval(secs => (:n - c)::float8 / :n * 31536000)
                     AS at) AS moment
    """,
    "pending_work": """
        INSERT INTO pending_work (
            id, conversation_id, message_id, status, attempts, available_at, created_at,
            finished_at)
        SELECT (c - 1) * 2 + k, c, (c - 1) * 4 + 2 * k - 1, 'done', 1, at, at, at
        FROM generate_series(1, :n) AS c, generate_series(1, 2) AS k,
            LATERAL (SELECT now() - make_interval(secs => (:n - c)::float8 / :n * 31536000)
                     AS at) AS moment
    """,
    "inbound_event": """
        INSERT INTO inbound_event (
            id, key, kind, thread_key, body, status, attempts, available_at, created_at,
            finished_at)
        SELECT (c - 1) * 2 + k, 'event:EvLOAD' || ((c - 1) * 2 + k), 'event',
            'C0BENCH' || lpad((c % :channels)::text, 2, '0') || ':' || (1600000000 + c)
                || '.000100',
            '{}'::json, 'done', 1, at, at, at
        FROM generate_series(1, :n) AS c, generate_series(1, 2) AS k,
            LATERAL (SELECT now() - make_interval(secs => (:n - c)::float8 / :n * 31536000)
                     AS at) AS moment
    """,
    "seen_event": """
        INSERT INTO seen_event (key, created_at)
        SELECT 'event:EvLOAD' || ((c - 1) * 2 + k), at
        FROM generate_series(1, :n) AS c, generate_series(1, 2) AS k,
            LATERAL (SELECT now() - make_interval(secs => (:n - c)::float8 / :n * 31536000)
                     AS at) AS moment
    """,
}
SEQUENCES = {"conversation": 1, "message": 4, "pending_work": 2, "inbound_event": 2}


def load(url: str, conversations: int) -> float:
    """Migrate the database and bulk-load it; returns the seconds it took."""
    started = time.perf_counter()
    engine = make_engine(url)
    try:
        upgrade(engine)
        values = {
            "n": conversations,
            "channels": LOADED_CHANNELS,
            "people": LOADED_PEOPLE,
            "agent": AGENT,
        }
        for table, statement in LOAD.items():
            with engine.begin() as connection:
                used = {k: v for k, v in values.items() if f":{k}" in statement}
                connection.execute(text(statement), used)
                if table in SEQUENCES:
                    connection.execute(
                        text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), :last)"),
                        {"last": conversations * SEQUENCES[table]},
                    )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()
    return time.perf_counter() - started


def answered(slack: FakeSlack, channel: str, ts: str) -> bool:
    return any(
        m.get("bot_id") and ANSWER_MARK in visible_text(m) for m in slack.thread(channel, ts)
    )


def measure(
    *, conversations: int, messages: int, workdir: Path, settings: dict[str, str]
) -> tuple[float, list[float]]:
    """Load a fresh database, serve it, and time `messages` mentions one after another;
    returns the load time and each message's seconds (warm-ups first)."""
    users = people(messages)
    channel_ids = channels(10)
    with (
        fake_slack(users=users, channel_ids=channel_ids) as slack,
        model_answering_in(0.0) as model,
        fresh_database("postgres", workdir) as url,
    ):
        loaded = load(url, conversations)
        with served_app(
            slack=slack,
            model=model,
            database_url=url,
            workdir=workdir,
            SCHEDULER_IN_PROCESS="false",
            **settings,
        ) as (_, port):
            connection = http.client.HTTPConnection("127.0.0.1", port)
            times = []
            made = mentions_by(slack, users=users, channel_ids=channel_ids, prefix="SCALE")
            for index, sent in enumerate(made):
                started = time.perf_counter()
                status = post_signed(connection, sent.body)
                if status != 200:
                    raise RuntimeError(f"Slack's POST got {status}")
                while not answered(slack, sent.channel, sent.ts):
                    if time.perf_counter() - started > ANSWER_TIMEOUT_SECONDS:
                        raise RuntimeError(f"message {index} unanswered after 30 s")
                    time.sleep(0.002)
                times.append(time.perf_counter() - started)
            connection.close()
        problems = [*slack.errors, *model.failures]
        if problems:
            raise RuntimeError(f"the fakes saw problems: {problems[:5]}")
    return loaded, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,1000000", help="comma-separated sizes")
    parser.add_argument("--messages", type=int, default=21, help="timed messages per size")
    parser.add_argument("--budget", type=float, default=0.0, help="channel budget in USD")
    args = parser.parse_args()
    settings = {"CHANNEL_MONTHLY_BUDGET_USD": str(args.budget)} if args.budget else {}
    sizes = [int(n) for n in args.sizes.split(",")]
    print(
        "per conversation: 4 messages, 2 finished turns, 2 taken-in requests, 2 seen keys;"
        f" {LOADED_CHANNELS} channels, {LOADED_PEOPLE} people; model answers at once;"
        f" channel budget: {args.budget or 'none'}"
    )
    print(f"{'conversations':>13} {'load':>8} {'median':>8} {'min':>7} {'max':>7}")
    medians: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="agentdesk-bench-") as tmp:
        for size in sizes:
            loaded, times = measure(
                conversations=size,
                messages=args.messages + WARM_UP,
                workdir=Path(tmp),
                settings=settings,
            )
            counted = times[WARM_UP:]
            medians[size] = statistics.median(counted)
            print(
                f"{size:>13,} {loaded:>7.1f}s {medians[size] * 1000:>6.0f}ms"
                f" {min(counted) * 1000:>5.0f}ms {max(counted) * 1000:>5.0f}ms",
                flush=True,
            )
    if len(sizes) >= 2:
        smallest, largest = min(sizes), max(sizes)
        ratio = medians[largest] / medians[smallest]
        verdict = "ok" if ratio <= TARGET else "MISSED"
        print(f"ratio {largest:,} / {smallest:,}: {ratio:.2f}x (target <= {TARGET}x: {verdict})")


if __name__ == "__main__":
    main()
