"""Benchmark loading the agent corpus: full load, no-change reload check, one edited file.

Run: .venv/bin/python bench/agents_load.py [--runs N]

The corpus folder comes from AGENT_CORPUS_DIR (default: ../shared/agent-corpus next to the
project root). It is copied into a temporary folder first, so the edits made here never
touch the shared copy and every file's mtime is under this script's control.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

try:
    from bot.agents.model import ReadMode
    from bot.agents.registry import AgentRegistry, Roster
except ImportError:  # run without the editable install: import from the checkout
    sys.path.insert(0, str(ROOT))
    from bot.agents.model import ReadMode
    from bot.agents.registry import AgentRegistry, Roster


def corpus_dir() -> Path:
    """The corpus folder named by AGENT_CORPUS_DIR, or the shared one beside the project."""
    configured = os.environ.get("AGENT_CORPUS_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    return (ROOT.parent / "shared" / "agent-corpus").resolve()


def median_seconds(action: Callable[[], object], runs: int) -> float:
    """Median wall time of `action` over `runs` calls."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def pick_edit_target(roster: Roster) -> Path:
    """A file that loaded as an agent, so an edit must be re-parsed and show up."""
    for report in roster.files:
        if report.agent is not None and report.agent.read_mode is ReadMode.STRICT:
            return report.path
    for report in roster.files:
        if report.agent is not None:
            return report.path
    raise SystemExit("no loadable agent in the corpus; nothing to edit")


def time_edit_pickup(registry: AgentRegistry, target: Path, runs: int) -> float:
    """Median time for roster() to notice and re-read one edited file."""
    original = target.read_text(encoding="utf-8")
    base = registry.roster()
    base_ns = target.stat().st_mtime_ns
    samples = []
    try:
        for run in range(1, runs + 1):
            marker = f"bench edit {run}"
            # The size changes every run and the mtime moves on one second each time, so
            # the edit is visible even on file systems with coarse timestamps.
            target.write_text(f"{original}\n<!-- {marker} -->\n", encoding="utf-8")
            stamp = base_ns + run * 1_000_000_000
            os.utime(target, ns=(stamp, stamp))
            start = time.perf_counter()
            roster = registry.roster()
            samples.append(time.perf_counter() - start)
            agent = next((a for a in roster if a.source == target), None)
            if roster.version <= base.version or agent is None or marker not in agent.body:
                raise SystemExit(f"the edit to {target} was not picked up")
            base = roster
    finally:
        target.write_text(original, encoding="utf-8")
        os.utime(target, ns=(base_ns, base_ns))
    return statistics.median(samples)


def format_seconds(seconds: float) -> str:
    """Seconds in the unit that reads best."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per measurement (median)")
    args = parser.parse_args()
    runs = max(1, args.runs)

    source = corpus_dir()
    if not source.is_dir():
        raise SystemExit(f"corpus folder not found: {source} (set AGENT_CORPUS_DIR)")

    with tempfile.TemporaryDirectory(prefix="agentdesk-bench-") as temp:
        corpus = Path(temp) / "corpus"
        shutil.copytree(source, corpus, symlinks=False)

        AgentRegistry(corpus).roster()  # warm the OS file cache and Python imports
        full = median_seconds(lambda: AgentRegistry(corpus).roster(), runs)

        registry = AgentRegistry(corpus)
        roster = registry.roster()
        version = roster.version
        unchanged = median_seconds(registry.roster, runs)
        if registry.roster().version != version:
            raise SystemExit("a no-change reload re-parsed files; the cache is not working")

        target = pick_edit_target(roster)
        edit = time_edit_pickup(registry, target, runs)

    tolerant = sum(1 for agent in roster if agent.read_mode is ReadMode.TOLERANT)
    unusable = sum(1 for report in roster.files if not report.usable)
    ratio = full / unchanged if unchanged else float("inf")

    print(f"corpus: {source}")
    print(
        f"files: {len(roster.files)}  agents: {len(roster)}  "
        f"(tolerant YAML: {tolerant}, unusable files: {unusable}, "
        f"problems: {len(roster.problems)})"
    )
    print(f"median of {runs} runs; edited file: {target.relative_to(corpus)}")
    print()
    rows = [
        ("full load (fresh registry)", format_seconds(full)),
        ("no-change reload check", format_seconds(unchanged)),
        ("full load / no-change check", f"{ratio:,.0f}x"),
        ("pick up one edited file", format_seconds(edit)),
    ]
    width = max(len(label) for label, _ in rows)
    print(f"{'measurement':<{width}}  {'median':>10}")
    print(f"{'-' * width}  {'-' * 10}")
    for label, value in rows:
        print(f"{label:<{width}}  {value:>10}")


if __name__ == "__main__":
    main()
