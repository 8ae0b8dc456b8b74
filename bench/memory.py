"""Benchmark memory: the served process tree's PSS idle, after 100 conversations and after 200.

Run from the project root: .venv/bin/python bench/memory.py [--conversations 100]
    [--at-once 20] [--database sqlite|postgres] [--model-seconds 2] [--settle 2]

Two servers, each its own process on a loopback port, take the same conversations one after
the other, each with its own fresh fake Slack and fake model (answering every call after
`--model-seconds`):

* agentdesk: `agentdesk serve` in its default layout (the app and its worker processes) with
  its default settings;
* reference: the reference bot (`bench/reference_bot.py`: one model call per mention, a
  SQLite dedupe table, one `chat.postMessage`, a 32-thread pool).

A conversation is one person's mention of the agent answered in its thread (each person
distinct, over ten channels). They come in bursts of `--at-once` people mentioning at the
same moment, the next burst once every thread of the last shows its answer. The PSS
(proportional set size: pages shared between the processes counted once in all) summed over
the process tree, from /proc/PID/smaps_rollup, is read idle `--settle` seconds after the
server answers /healthz, then `--settle` seconds after the last answer of the first
`--conversations` and of the next as many. Prints the three readings (RSS beside them) and
the growth per 100 conversations: over both hundreds, and over the second alone (the first
also pays for what is loaded on first use).
"""

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from served import (
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
    pss_by_process,
    rss_mb,
    served_app,
    served_reference_bot,
)

from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.slack_server import FakeSlack

CHANNELS = 10


@dataclass
class Reading:
    """PSS and RSS of the process tree, in MB, after so many conversations; the PSS of each
    process in it (the server first)."""

    conversations: int
    pss: float
    rss: float
    each: list[float]


def read(conversations: int, pid: int) -> Reading:
    """The memory of a server's process tree now."""
    each = [pss for _, pss in pss_by_process(pid)]
    return Reading(conversations, sum(each), rss_mb(pid), each)


@contextmanager
def server(
    *, bot: str, slack: FakeSlack, model: FakeAnthropic, database: str, workdir: Path
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """agentdesk on a fresh `database`, or the reference bot, served and ready."""
    if bot == "reference":
        with served_reference_bot(slack=slack, model=model, workdir=workdir) as reference:
            yield reference
        return
    with (
        fresh_database(database, workdir) as url,
        served_app(slack=slack, model=model, database_url=url, workdir=workdir) as app,
    ):
        yield app


def readings(
    *,
    bot: str,
    database: str,
    conversations: int,
    at_once: int,
    model_seconds: float,
    settle: float,
    workdir: Path,
) -> list[Reading]:
    """Memory idle, after `conversations` and after twice as many, of a fresh server."""
    users = people(2 * conversations)
    channel_ids = channels(CHANNELS)
    with (
        fake_slack(users=users, channel_ids=channel_ids) as slack,
        model_answering_in(model_seconds) as model,
        server(bot=bot, slack=slack, model=model, database=database, workdir=workdir) as (
            process,
            port,
        ),
    ):
        mentions = mentions_by(slack, users=users, channel_ids=channel_ids, prefix="MEM")
        time.sleep(settle)
        taken = [read(0, process.pid)]
        for hundred in (mentions[:conversations], mentions[conversations:]):
            for start in range(0, len(hundred), at_once):
                burst(slack=slack, server=process, port=port, mentions=hundred[start:][:at_once])
            time.sleep(settle)
            done = taken[-1].conversations + len(hundred)
            taken.append(read(done, process.pid))
        problems = [*slack.errors, *model.failures]
        if problems:
            raise RuntimeError(f"the fakes saw problems: {problems[:5]}")
    return taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100, help="per reading")
    parser.add_argument("--at-once", type=int, default=20, help="people mentioning at once")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--model-seconds", type=float, default=2.0)
    parser.add_argument("--settle", type=float, default=2.0, help="seconds before each reading")
    args = parser.parse_args()
    count = args.conversations
    print(f"checkout: {checkout()}; load average at start {load_average()}")
    print(f"agentdesk settings: defaults ({default_settings()}); database: {args.database}")
    print(
        f"{2 * count} conversations, {args.at_once} people at once, model {args.model_seconds:.1f}"
        f" s a call; PSS and RSS of the process tree, {args.settle:.0f} s after each step"
    )
    print()
    header = f"{'bot':<10} {'idle':>16} {f'after {count}':>16} {f'after {2 * count}':>16}"
    header += f" {'growth/100':>11} {'2nd 100 only':>13}"
    print(header)
    with tempfile.TemporaryDirectory(prefix="agentdesk-bench-") as tmp:
        for bot in ("agentdesk", "reference"):
            idle, first, second = readings(
                bot=bot,
                database=args.database,
                conversations=count,
                at_once=args.at_once,
                model_seconds=args.model_seconds,
                settle=args.settle,
                workdir=Path(tmp),
            )
            cells = [f"{r.pss:7.1f} ({r.rss:5.0f}) MB" for r in (idle, first, second)]
            per_hundred = 100 / count
            growth = (second.pss - idle.pss) / 2 * per_hundred
            later = (second.pss - first.pss) * per_hundred
            line = f"{bot:<10} {cells[0]:>16} {cells[1]:>16} {cells[2]:>16}"
            line += f" {growth:>+8.1f} MB {later:>+10.1f} MB"
            print(line, flush=True)
            if len(idle.each) > 1:
                split = ", ".join(
                    f"{r.conversations}: " + " + ".join(f"{pss:.1f}" for pss in r.each)
                    for r in (idle, first, second)
                )
                print(f"{'':<10} PSS by process (server first) after {split} MB")
    print(f"(PSS, RSS in brackets; load average at the end {load_average()})")


if __name__ == "__main__":
    main()
