"""Benchmark how fast the command line starts: `--help`, `route`, `agents list`, `doctor`.

Run: .venv/bin/python bench/cli_speed.py [--runs N]

Each command runs as its own process (`agentdesk`, the installed script), in an empty
temporary folder (no `.env`), with the shipped agents, a SQLite file and no API key, so
`route` decides locally and nothing leaves the machine. The first run of each command is
reported apart from the median of the rest: the first one pays for a cold OS file cache.
The baseline is `python -c pass`, measured the same way in the same run.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).with_name("agentdesk")

# command, target in seconds (None: no target)
COMMANDS: list[tuple[list[str], float | None]] = [
    ([str(SCRIPT), "--help"], 0.3),
    ([str(SCRIPT), "route", "Add OAuth login to our REST API with refresh tokens"], 1.0),
    ([str(SCRIPT), "agents", "list"], None),
    ([str(SCRIPT), "db", "status"], None),
]


def run_once(command: list[str], *, cwd: Path, env: dict[str, str]) -> float:
    """Wall time of one run; exits if the command fails."""
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr.decode()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per command after the first")
    args = parser.parse_args()
    runs = max(1, args.runs)
    if not SCRIPT.exists():
        raise SystemExit(f"{SCRIPT} not found: run `make install` first")

    with tempfile.TemporaryDirectory(prefix="agentdesk-cli-") as temp:
        folder = Path(temp)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("SLACK_", "ANTHROPIC_", "DATABASE_", "AGENTS_"))
        }
        env.update(AGENTS_DIR=str(ROOT / "agents"), DATABASE_URL=f"sqlite:///{folder / 'bench.db'}")
        baseline_command = [sys.executable, "-c", "pass"]
        rows = []
        for command, target in [(baseline_command, None), *COMMANDS]:
            first = run_once(command, cwd=folder, env=env)
            median = statistics.median(run_once(command, cwd=folder, env=env) for _ in range(runs))
            rows.append((command, first, median, target))

    baseline = rows[0][2]
    print(f"python: {sys.executable}")
    print(f"median of {runs} runs after a first run; baseline: python -c pass")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"load average (1, 5, 15 min): {load} on {os.cpu_count()} CPUs; compare the x base column"
    )
    print()
    header = f"{'command':<36} {'first':>8} {'median':>8} {'x base':>7} {'target':>8}  ok"
    print(header)
    print("-" * len(header))
    for command, first, median, target in rows:
        name = "python -c pass" if command is baseline_command else _shown(command)
        verdict = "" if target is None else ("yes" if median < target else "NO")
        print(
            f"{name:<36} {first:>7.3f}s {median:>7.3f}s {median / baseline:>6.1f}x "
            f"{'' if target is None else f'{target:.1f}s':>8}  {verdict}"
        )


def _shown(command: list[str]) -> str:
    text = " ".join(["agentdesk", *command[1:]])
    return text if len(text) <= 36 else text[:35] + "…"


if __name__ == "__main__":
    main()
