"""Benchmark concurrent turns: N people mention the bot at the same moment; when are all answered?

Run from the project root: .venv/bin/python bench/concurrency.py [--threads 20,200]
    [--databases sqlite,postgres] [--model-seconds 2]

`agentdesk serve` runs as its own process with its default settings, against the loopback
fake Slack and a fake model that answers every turn after `--model-seconds`. N threads, each
a distinct person in one of ten channels, each POST one signed `app_mention` at the same
moment (a barrier releases them). The wall time runs from the first send to the moment the
last of the N threads shows the agent's answer in the fake Slack (polled every 20 ms), and
is set against the ideal: one model answer's time, as if every turn ran at once with no
overhead. The app's RSS is read from /proc before the sends and after the last answer; its
CPU time (app and worker processes) and this process's own (the senders, the fakes, the
polling, which share the machine) are printed too.
PostgreSQL runs use a fresh database (CREATE DATABASE, dropped afterwards) on
AGENTDESK_TEST_POSTGRES_URL's server (default: the local test server).

Targets (issue 10): 20 threads <= 1.3x the ideal, 200 threads <= 2x, RSS growth <= 60 MB
for 200.
"""

import argparse
import http.client
import resource
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from served import (
    AGENT,
    ANSWER_MARK,
    channels,
    cpu_seconds,
    default_settings,
    fake_slack,
    fresh_database,
    mention,
    model_answering_in,
    people,
    post_signed,
    profiled,
    rss_mb,
    served_app,
)

from tests.fakes.slack_server import visible_text

CHANNELS = 10
TARGETS = {20: 1.3, 200: 2.0}
RSS_TARGET_MB = 60.0
TIMEOUT_SECONDS = 120.0


@dataclass
class Result:
    database: str
    threads: int
    wall: float
    first_answer: float
    model_calls: int
    first_call: float
    last_call: float
    cpu: float
    own_cpu: float
    statuses: dict[int, int]
    rss_before: float
    rss_after: float


def run(*, database: str, threads: int, model_seconds: float, workdir: Path) -> Result:
    """One run: a fresh database, a fresh app process, `threads` simultaneous mentions."""
    users = people(threads)
    channel_ids = channels(CHANNELS)
    with (
        fake_slack(users=users, channel_ids=channel_ids) as slack,
        model_answering_in(model_seconds) as model,
        fresh_database(database, workdir) as url,
        served_app(slack=slack, model=model, database_url=url, workdir=workdir) as (app, port),
    ):
        mentions = [
            mention(
                slack,
                channel=channel_ids[index % CHANNELS],
                user=user,
                text=f"{AGENT}: please add OAuth login to service {index}",
                event_id=f"EvBENCH{index:05d}",
            )
            for index, user in enumerate(users)
        ]
        connections = [http.client.HTTPConnection("127.0.0.1", port) for _ in mentions]
        for connection in connections:
            connection.connect()
        rss_before = rss_mb(app.pid)
        cpu_before = cpu_seconds(app.pid)
        own_before = own_cpu_seconds()
        statuses: dict[int, int] = {}
        lock = threading.Lock()
        barrier = threading.Barrier(threads + 1)

        def send(index: int) -> None:
            barrier.wait()
            status = post_signed(connections[index], mentions[index][1])
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

        senders = [threading.Thread(target=send, args=(i,)) for i in range(threads)]
        for sender in senders:
            sender.start()
        with profiled(app.pid):
            barrier.wait()
            started = time.perf_counter()
            # One read of each channel a round (not one per thread): the bench shares the
            # machine with the app, so its own polling must stay cheap.
            waiting = {
                (channel_ids[index % CHANNELS], ts) for index, (ts, _) in enumerate(mentions)
            }
            first_answer = 0.0
            while waiting:
                if time.perf_counter() - started > TIMEOUT_SECONDS:
                    raise RuntimeError(
                        f"{len(waiting)} of {threads} threads unanswered after 120 s"
                    )
                for channel in {channel for channel, _ in waiting}:
                    for message in slack.messages(channel):
                        root = (channel, message["thread_ts"] or message["ts"])
                        answered = message["bot_id"] and ANSWER_MARK in visible_text(message)
                        if root in waiting and answered:
                            waiting.discard(root)
                            first_answer = first_answer or time.perf_counter() - started
                time.sleep(0.02)
            wall = time.perf_counter() - started
        rss_after = rss_mb(app.pid)
        cpu = cpu_seconds(app.pid) - cpu_before
        own_cpu = own_cpu_seconds() - own_before
        for sender in senders:
            sender.join()
        for connection in connections:
            connection.close()
        problems = [*slack.errors, *model.failures]
        if problems:
            raise RuntimeError(f"the fakes saw problems: {problems[:5]}")
        calls = [arrival - started for arrival in model.arrivals]
        return Result(
            database,
            threads,
            wall,
            first_answer,
            len(calls),
            min(calls),
            max(calls),
            cpu,
            own_cpu,
            statuses,
            rss_before,
            rss_after,
        )


def own_cpu_seconds() -> float:
    """CPU time this process (the senders, the fakes, the polling) has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="20,200", help="comma-separated thread counts")
    parser.add_argument("--databases", default="sqlite,postgres", help="sqlite and/or postgres")
    parser.add_argument("--model-seconds", type=float, default=2.0)
    args = parser.parse_args()
    counts = [int(n) for n in args.threads.split(",")]
    databases = args.databases.split(",")
    ideal = args.model_seconds
    print(f"settings: defaults ({default_settings()})")
    print(
        f"model: answers each turn after {ideal:.1f} s; {CHANNELS} channels; ideal = {ideal:.1f} s"
    )
    print()
    header = f"{'database':<9} {'threads':>7} {'acks':>10} {'first':>7} {'wall':>7} {'ratio':>6}"
    header += f" {'target':>7} {'RSS before':>11} {'after':>8} {'growth':>7}"
    print(header)
    with tempfile.TemporaryDirectory(prefix="agentdesk-bench-") as tmp:
        for database in databases:
            for count in counts:
                result = run(
                    database=database, threads=count, model_seconds=ideal, workdir=Path(tmp)
                )
                ratio = result.wall / ideal
                target = TARGETS.get(count)
                verdict = (
                    ""
                    if target is None
                    else f"<={target}x " + ("ok" if ratio <= target else "MISSED")
                )
                growth = result.rss_after - result.rss_before
                acks = ",".join(f"{n}x{s}" for s, n in sorted(result.statuses.items()))
                line = f"{database:<9} {count:>7} {acks:>10} {result.first_answer:>6.2f}s"
                line += f" {result.wall:>6.2f}s {ratio:>5.2f}x {verdict:>7}"
                line += f" {result.rss_before:>9.1f}MB {result.rss_after:>6.1f}MB {growth:>+6.1f}MB"
                if count >= 200:
                    line += " ok" if growth <= RSS_TARGET_MB else " RSS MISSED"
                print(line, flush=True)
                print(
                    f"{'':<18} model asked {result.model_calls} times, first at"
                    f" {result.first_call:.2f}s, last at {result.last_call:.2f}s after the sends;"
                    f" app CPU {result.cpu:.2f}s ({result.cpu / count * 1000:.0f} ms a request);"
                    f" bench and fakes CPU {result.own_cpu:.2f}s"
                )


if __name__ == "__main__":
    main()
