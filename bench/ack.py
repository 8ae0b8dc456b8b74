"""Benchmark the ack: how long Slack waits for the 200 to a signed mention.

Run from the project root: .venv/bin/python bench/ack.py [--requests 1000] [--senders 20]
    [--database sqlite|postgres]

Two servers, each its own process on a loopback port, get the same traffic in the same run:

* baseline: a minimal Bolt app that only acks (`bench/reference_bot.py` without a model: an
  `app_mention` listener that does nothing), behind the same Starlette route shape and
  uvicorn as `agentdesk serve` (the body read, the Bolt dispatch in Starlette's thread pool);
* agentdesk: `agentdesk serve` with its default settings, storing each request before the ack,
  against the loopback fake Slack and a fake model that answers each turn after 2 s (so the
  turns the mentions start run in the background while the acks are measured).

`--senders` threads each keep one connection open and POST signed `app_mention` envelopes
(distinct people and messages over ten channels) one after another; the time of each
POST /slack/events, from sending the request to reading the response, is recorded. A warm-up
of 50 requests per server is not counted. Prints p50 and p99 for both and their ratio.
Target (issue 10): agentdesk's p50 <= 1.5x the minimal app's.
"""

import argparse
import http.client
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from served import (
    AGENT,
    channels,
    default_settings,
    fake_slack,
    fresh_database,
    mention,
    model_answering_in,
    people,
    post_signed,
    profiled,
    served_app,
    served_reference_bot,
)

from tests.fakes.slack_server import FakeSlack

WARM_UP = 50
CHANNELS = 10
TARGET = 1.5


def measure(port: int, bodies: list[bytes], senders: int) -> list[float]:
    """Ack times in ms of POSTing `bodies` from `senders` threads, each on its own connection."""
    times: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    shares = [bodies[i::senders] for i in range(senders)]

    def send(share: list[bytes]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        codes: list[int] = []
        for body in share:
            started = time.perf_counter()
            codes.append(post_signed(connection, body))
            mine.append((time.perf_counter() - started) * 1000)
        connection.close()
        with lock:
            times.extend(mine)
            statuses.extend(codes)

    threads = [threading.Thread(target=send, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if any(status != 200 for status in statuses):
        raise RuntimeError(f"non-200 acks: {sorted(set(statuses))}")
    return times


def mentions(slack: FakeSlack, count: int, prefix: str) -> list[bytes]:
    users = people(count)
    channel_ids = channels(CHANNELS)
    return [
        mention(
            slack,
            channel=channel_ids[index % CHANNELS],
            user=user,
            text=f"{AGENT}: please add OAuth login to service {index}",
            event_id=f"Ev{prefix}{index:06d}",
        )[1]
        for index, user in enumerate(users)
    ]


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    total = WARM_UP + args.requests
    print(f"agentdesk settings: defaults ({default_settings()}); database: {args.database}")
    print(f"{args.requests} signed mentions from {args.senders} senders (+{WARM_UP} warm-up)")
    results: dict[str, list[float]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="agentdesk-bench-") as tmp,
        fake_slack(users=people(total), channel_ids=channels(CHANNELS)) as slack,
        model_answering_in(2.0) as model,
    ):
        workdir = Path(tmp)
        with served_reference_bot(slack=slack, model=None, workdir=workdir) as (_, port):
            bodies = mentions(slack, total, "MIN")
            measure(port, bodies[:WARM_UP], args.senders)
            results["minimal Bolt app"] = measure(port, bodies[WARM_UP:], args.senders)
        with (
            fresh_database(args.database, workdir) as url,
            served_app(slack=slack, model=model, database_url=url, workdir=workdir) as (app, port),
        ):
            bodies = mentions(slack, total, "DESK")
            measure(port, bodies[:WARM_UP], args.senders)
            with profiled(app.pid):
                results["agentdesk serve"] = measure(port, bodies[WARM_UP:], args.senders)
    print()
    print(f"{'server':<18} {'p50':>8} {'p99':>8} {'mean':>8}")
    for name, times in results.items():
        p50, p99 = percentile(times, 0.5), percentile(times, 0.99)
        print(f"{name:<18} {p50:>6.1f}ms {p99:>6.1f}ms {statistics.fmean(times):>6.1f}ms")
    base, desk = results["minimal Bolt app"], results["agentdesk serve"]
    ratio50 = percentile(desk, 0.5) / percentile(base, 0.5)
    ratio99 = percentile(desk, 0.99) / percentile(base, 0.99)
    verdict = "ok" if ratio50 <= TARGET else "MISSED"
    print(f"ratio agentdesk/minimal: p50 {ratio50:.2f}x ({verdict}, target <= {TARGET}x)", end="")
    print(f", p99 {ratio99:.2f}x")


if __name__ == "__main__":
    main()
