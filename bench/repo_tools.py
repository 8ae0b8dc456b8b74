"""Benchmark the repository tools on a generated 10,000-file repository.

Run from the project root: .venv/bin/python bench/repo_tools.py [--files N] [--runs N]

A repository is generated in a temporary folder (nested packages of Python, TypeScript, Go,
Markdown and JSON files of mixed sizes, a .gitignore, and ignored build output beside the
tracked files), committed with git, and mirrored the way agentdesk mirrors a URL. Then,
for ripgrep and for the pure-Python fallback, it times `search_code` (a rare identifier that
forces a full scan, a common word, a regular expression, a case-insensitive word, and a
search narrowed by path_glob), `list_files`, and `read_file`, and prints median and p95.
As a baseline, a plain `os.walk` over the same tree (every folder, no filtering, no
reading) is timed in the same run, and every median is also given as a multiple of it.
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.repos import RepoMirror, RepoSet, RepoSpec, RepoTools, ToolResult  # noqa: E402
from bot.repos.ripgrep import find_ripgrep  # noqa: E402

WORDS = [
    "account",
    "order",
    "invoice",
    "payment",
    "customer",
    "session",
    "token",
    "cache",
    "queue",
    "worker",
    "event",
    "webhook",
    "report",
    "schedule",
    "retry",
    "limit",
    "window",
    "merchant",
    "refund",
    "ledger",
    "export",
    "import",
    "profile",
    "search",
    "index",
    "batch",
    "stream",
    "policy",
    "region",
    "tenant",
    "audit",
    "notify",
]
GITIGNORE = "node_modules/\nbuild/\ndist/\n*.log\n*.pyc\n.coverage\n"


def generate(root: Path, files: int, seed: int = 7) -> int:
    """Write `files` tracked files (and ignored extras) under `root`; the bytes written."""
    rng = random.Random(seed)
    (root / ".gitignore").parent.mkdir(parents=True, exist_ok=True)
    (root / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    folders = _folders(rng, count=max(files // 12, 1))
    written = 0
    for number in range(files - 1):
        folder = folders[number % len(folders)]
        kind = rng.choices(("py", "ts", "go", "md", "json"), weights=(40, 25, 15, 12, 8))[0]
        name = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}_{number}.{kind}"
        lines = _size_in_lines(rng)
        text = _content(rng, kind, number, lines)
        path = root / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written += len(text)
    for number in range(files // 20):  # ignored: dependencies and build output
        where = ("node_modules/pkg", "build/lib", "dist")[number % 3]
        path = root / where / f"module_{number}.js"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"export const rare_identifier_{number} = 'ignored';\n" * 20)
    return written


def _folders(rng: random.Random, *, count: int) -> list[str]:
    tops = ("services", "packages", "libs", "apps", "docs", "tools")
    folders = []
    for _ in range(count):
        depth = rng.choice((1, 2, 2, 3, 3, 4, 5))
        parts = [rng.choice(tops)] + [rng.choice(WORDS) for _ in range(depth)]
        folders.append("/".join(parts))
    return sorted(set(folders))


def _size_in_lines(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.75:
        return rng.randint(5, 60)  # most files are small
    if roll < 0.98:
        return rng.randint(60, 250)
    return rng.randint(800, 3000)  # a few big ones


def _content(rng: random.Random, kind: str, number: int, lines: int) -> str:
    out: list[str] = []
    while len(out) < lines:
        a, b = rng.choice(WORDS), rng.choice(WORDS)
        if kind == "py":
            out += [
                f"class {a.title()}{b.title()}Service:",
                f'    """Handles {a} {b} for the tenant."""',
                f"    def handle_{a}_{number}(self, {b}: str) -> None:",
                f"        # TODO: retry the {b} when the {a} queue is full",
                f"        return self.{b}_client.send({a}={b})",
                "",
            ]
        elif kind == "ts":
            out += [
                f"export function {a}{b.title()}(input: {a.title()}Input): Promise<void> {{",
                f"  const {b} = await fetch('/api/{a}/{b}');",
                f"  return process{a.title()}({b});",
                "}",
            ]
        elif kind == "go":
            out += [
                f"func {a.title()}{b.title()}(ctx context.Context) error {{",
                f'\treturn errors.New("{a} {b} failed")',
                "}",
            ]
        elif kind == "md":
            out += [
                f"## {a.title()} and {b}",
                "",
                f"The {a} service exports {b} reports daily.",
                "",
            ]
        else:
            out += [f'  "{a}_{b}": {{"enabled": true, "limit": {rng.randint(1, 999)}}},']
    return "\n".join(out[:lines]) + "\n"


def git(*args: str, cwd: Path) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def timings(action: Callable[[], object], runs: int) -> list[float]:
    """Wall times of `runs` calls, after one warm-up call."""
    action()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return samples


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def plain_walk(root: Path) -> int:
    """The baseline: every file name in the tree, nothing filtered, nothing read."""
    return sum(len(names) for _, _, names in os.walk(root))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=9, help="timed runs per case (ripgrep)")
    parser.add_argument("--python-runs", type=int, default=5, help="timed runs per case (Python)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="agentdesk-bench-repos-"))
    try:
        run(work, args.files, args.runs, args.python_runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, files: int, runs: int, python_runs: int) -> None:
    upstream = work / "upstream"
    started = time.perf_counter()
    written = generate(upstream, files)
    git("init", "--quiet", "--initial-branch=main", cwd=upstream)
    git("add", "--all", cwd=upstream)
    git("commit", "--quiet", "-m", "Generated", cwd=upstream)
    mirror = RepoMirror(RepoSpec(name="bench", url=upstream.as_uri()), work / "cache")
    snapshot = mirror.sync()
    print(
        f"repository: {files:,} tracked files, {written / 1024 / 1024:.1f} MiB, plus "
        f"{files // 20:,} ignored; generated, committed and cloned in "
        f"{time.perf_counter() - started:.1f} s ({snapshot.header})"
    )
    rg = find_ripgrep()
    print(f"ripgrep: {rg or 'not found (only the Python fallback is timed)'}")
    print(f"python: {sys.version.split()[0]}, cpus: {os.cpu_count()}\n")

    baseline = timings(lambda: plain_walk(mirror.root), runs)
    base = statistics.median(baseline)
    print(
        f"baseline os.walk over the tree: median {base * 1000:.1f} ms, p95 {p95(baseline) * 1000:.1f} ms"
    )
    print(f"({plain_walk(mirror.root):,} files seen, .git included)\n")

    repos = RepoSet([mirror])
    engines = [("ripgrep", True, runs)] if rg else []
    engines.append(("python", False, python_runs))
    big = max(
        (p for p in mirror.root.rglob("*.py") if ".git" not in p.parts),
        key=lambda p: p.stat().st_size,
    )
    big_rel = big.relative_to(mirror.root).as_posix()
    middle = len(big.read_text(encoding="utf-8").splitlines()) // 2

    # (label, call, cold): a cold case gets new tools per call, so no file list is cached.
    cases: list[tuple[str, Callable[[RepoTools], ToolResult], bool]] = [
        (
            "search rare (full scan)",
            lambda t: t.search_code(repo="bench", pattern="handle_refund_99999"),
            True,
        ),
        ("search common `import`", lambda t: t.search_code(repo="bench", pattern="import"), True),
        (
            "search regex `class \\w+LedgerService:`",
            lambda t: t.search_code(repo="bench", pattern=r"class \w+LedgerService:"),
            True,
        ),
        (
            "search -i `todo: retry the audit`",
            lambda t: t.search_code(
                repo="bench", pattern="todo: retry the audit", ignore_case=True
            ),
            True,
        ),
        (
            "search path_glob `**/*.go`",
            lambda t: t.search_code(
                repo="bench", pattern=r"errors\.New\(\"tenant", path_glob="**/*.go"
            ),
            True,
        ),
        ("list `**/*.py` (cold)", lambda t: t.list_files(repo="bench", pattern="**/*.py"), True),
        (
            "list `**/*.py` (cached file list)",
            lambda t: t.list_files(repo="bench", pattern="**/*.py"),
            False,
        ),
        ("list `**/*` (cold)", lambda t: t.list_files(repo="bench"), True),
        (
            "list `services/**/*.{ts,go}` (cold)",
            lambda t: t.list_files(repo="bench", pattern="services/**/*.{ts,go}"),
            True,
        ),
        ("read_file first 500 lines", lambda t: t.read_file(repo="bench", path=big_rel), False),
        (
            f"read_file from line {middle:,}",
            lambda t: t.read_file(repo="bench", path=big_rel, start_line=middle),
            False,
        ),
    ]

    print(f"{'case':<40} {'engine':<8} {'median':>9} {'p95':>9} {'× walk':>7}  result")
    for label, call, cold in cases:
        for engine, use_ripgrep, count in engines:
            warm = RepoTools(repos, use_ripgrep=use_ripgrep)

            def once(
                call: Callable[[RepoTools], ToolResult] = call,
                warm: RepoTools = warm,
                cold: bool = cold,
                use_ripgrep: bool = use_ripgrep,
            ) -> ToolResult:
                return call(RepoTools(repos, use_ripgrep=use_ripgrep) if cold else warm)

            result = once()
            samples = timings(once, count)
            median = statistics.median(samples)
            summary = result.text.splitlines()[0].split("): ", 1)[-1][:44]
            print(
                f"{label:<40} {engine:<8} {median * 1000:>7.1f}ms {p95(samples) * 1000:>7.1f}ms "
                f"{median / base:>6.1f}x  {summary}"
            )
    if rg:
        same = _same(RepoTools(repos, use_ripgrep=True), RepoTools(repos, use_ripgrep=False))
        print("\nsame results from both engines:", same)


def _same(fast: RepoTools, fallback: RepoTools) -> bool:
    """Whether both engines return identical results for a few searches."""
    checks: tuple[tuple[str, str | None, bool], ...] = (
        (r"class \w+LedgerService:", None, False),
        ("todo: retry the audit", None, True),
        (r"errors\.New", "**/*.go", False),
    )
    return all(
        fast.search_code(repo="bench", pattern=p, path_glob=g, ignore_case=i, limit=500)
        == fallback.search_code(repo="bench", pattern=p, path_glob=g, ignore_case=i, limit=500)
        for p, g, i in checks
    )


if __name__ == "__main__":
    main()
