"""Benchmark implementation runs: agentdesk's overhead from the Implement click to the pull
request, and the memory one run, and five at once, take.

Run from the project root: .venv/bin/python bench/implement.py [--runs N]

Data: a fixture project (two files and a unittest suite) in a local bare repository; a
loopback fake of the Messages API that answers at once with a scripted Claude Code session
(write one file, run the test suite, finish); a loopback fake of the GitHub REST API. The
Claude Code CLI bundled with claude-agent-sdk runs for real, in its bubblewrap sandbox when
bwrap and socat are installed.

1. Overhead: `start_implementation` (what the click does) to the pull request stored, each
   run on its own conversation, timed end to end; the Claude Code session inside it (from
   its start to its result) is timed too. Everything else - worktree from the mirror,
   commit, push, the GitHub calls, the database and the thread messages - is agentdesk's.
2. Memory: the resident set of this process plus every process under it (the Claude Code
   CLI, git, the sandbox), sampled every 20 ms from /proc: before, and the peak during one
   run, then during five runs at once (five worker threads).
"""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `tests` (the fakes, the fixture project) lives in the checkout
    sys.path.insert(0, str(ROOT))

import bot.implement.run_job as run_job_module  # noqa: E402
from bot.implement import ImplementationService, ImplementationWorker, sandbox_missing  # noqa: E402
from bot.implement.claude_code import run_claude_code  # noqa: E402
from bot.repos import build_repo_set  # noqa: E402
from bot.runtime.build import build_desk  # noqa: E402
from tests.fakes.anthropic_server import ClaudeCodeScript, FakeAnthropic, ToolUseSpec  # noqa: E402
from tests.fakes.github_server import FakeGitHub  # noqa: E402
from tests.implement.support import (  # noqa: E402
    RUN_TESTS,
    TEST_SUBTRACT,
    make_remote,
    signed_off_plan,
)
from tests.support import make_settings  # noqa: E402

TOKEN = "ghp_benchtoken0123456789"


def _steps() -> list[object]:
    return [
        ToolUseSpec("Write", {"file_path": "{cwd}/test_more.py", "content": TEST_SUBTRACT}),
        ToolUseSpec("Bash", {"command": RUN_TESTS, "description": "Run the tests"}),
        "Added a test.",
    ]


def _tree_rss_kib(root_pid: int) -> int:
    """RSS of a process and all its descendants, in KiB, read from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            lines = (entry / "status").read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in lines if ":" in line)
        pid, ppid = int(entry.name), int(fields.get("PPid", "0").strip() or 0)
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) if "VmRSS" in fields else 0
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


@contextmanager
def _peak_rss() -> Iterator[list[int]]:
    """Sample the process tree's RSS every 20 ms; yields a one-item list with the peak."""
    peak = [_tree_rss_kib(os.getpid())]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss_kib(os.getpid()))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()


def _conversation(service: ImplementationService, index: int) -> int:
    """A conversation with the fixture plan and its requirement card signed off."""
    return signed_off_plan(
        service.engine,
        team_id="T1",
        channel_id="C1",
        thread_ts=f"1700000000.{index:06d}",
        requester_id="U1",
        title=f"Bench change {index}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed single runs (default 5)")
    args = parser.parse_args()
    sessions: list[float] = []
    original = run_job_module.run_claude_code

    def timed_session(*a: object, **k: object) -> object:
        started = time.perf_counter()
        try:
            return original(*a, **k)  # type: ignore[arg-type]
        finally:
            sessions.append(time.perf_counter() - started)

    run_job_module.run_claude_code = timed_session  # type: ignore[assignment]
    assert run_claude_code is original
    with tempfile.TemporaryDirectory(prefix="agentdesk-bench-implement-") as folder:
        tmp = Path(folder)
        os.environ["GH_TOKEN"] = TOKEN
        bare = make_remote(tmp)
        with (
            FakeAnthropic() as model,
            FakeGitHub(owner="acme", repo="calc", bare_repo=bare, token=TOKEN) as github,
        ):
            settings = make_settings(
                tmp,
                model,
                repos=f"api=file://{bare}@GH_TOKEN",
                repos_cache_dir=tmp / "mirrors",
                implement_work_dir=tmp / "worktrees",
                implement_github_repos="api=acme/calc",
                github_api_url=github.api_url,
                implement_enabled=True,
                implement_concurrency=5,
            )
            desk = build_desk(settings)
            service = ImplementationService(
                settings=settings,
                engine=desk.engine,
                registry=desk.registry,
                repos=build_repo_set(settings),
            )
            print(f"sandbox: {sandbox_missing() or 'bubblewrap + socat (commands sandboxed)'}")
            # warm-up: the first run clones the mirror and loads the CLI from disk
            model.default = ClaudeCodeScript(_steps())
            _run_one(service, _conversation(service, 0))
            sessions.clear()

            totals = []
            base_rss = _tree_rss_kib(os.getpid())
            peak_one = base_rss
            for index in range(1, args.runs + 1):
                model.default = ClaudeCodeScript(_steps())
                with _peak_rss() as peak:
                    totals.append(_run_one(service, _conversation(service, index)))
                peak_one = max(peak_one, peak[0])
            overheads = [t - s for t, s in zip(totals, sessions, strict=True)]
            print(f"single runs: {args.runs}, PRs opened: {len(github.pulls) - 1}")
            print(
                f"click to PR: median {statistics.median(totals) * 1000:.0f} ms "
                f"(min {min(totals) * 1000:.0f}, max {max(totals) * 1000:.0f})"
            )
            print(
                f"  Claude Code session: median {statistics.median(sessions) * 1000:.0f} ms; "
                f"agentdesk's share: median {statistics.median(overheads) * 1000:.0f} ms"
            )
            print(
                f"RSS (this process + children): idle {base_rss / 1024:.0f} MiB, "
                f"peak during one run {peak_one / 1024:.0f} MiB"
            )

            scripts = {}

            def script_for(body: dict[str, object]) -> object:
                cwd = ClaudeCodeScript.working_directory(body)
                with lock:
                    script = scripts.setdefault(cwd, ClaudeCodeScript(_steps()))
                return script(body)  # type: ignore[arg-type]

            lock = threading.Lock()
            model.default = script_for  # type: ignore[assignment]
            ids = [_conversation(service, 100 + i) for i in range(5)]
            worker = ImplementationWorker(service, on_posted=lambda _c: None, threads=5)
            before = len(github.pulls)
            with _peak_rss() as peak:
                started = time.perf_counter()
                for conversation_id in ids:
                    assert service.start_implementation(
                        conversation_id=conversation_id, user_id="U1", user_name="bench"
                    ).started
                worker.start()
                while len(github.pulls) < before + 5:
                    time.sleep(0.01)
                elapsed = time.perf_counter() - started
            worker.stop()
            print(
                f"5 runs at once: all PRs in {elapsed * 1000:.0f} ms; "
                f"peak RSS {peak[0] / 1024:.0f} MiB"
            )
            desk.engine.dispose()


def _run_one(service: ImplementationService, conversation_id: int) -> float:
    started = time.perf_counter()
    outcome = service.start_implementation(
        conversation_id=conversation_id, user_id="U1", user_name="bench"
    )
    assert outcome.started, outcome.message
    run = service.claim_next()
    assert run is not None
    state = service.run_implementation_job(run)
    assert state.value == "succeeded", state
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
