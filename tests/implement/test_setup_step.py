"""The set-up step: where it comes from, and a run whose tests need a package this machine
does not have: installed by the step through the registry proxy, the tests run by the agent
with no network, the result reused by the next run."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.implement.availability import sandbox_missing
from bot.implement.claude_code import suite_verdict
from bot.implement.setup_step import (
    SetupConfigError,
    SetupPlan,
    cache_key,
    find_setup,
    parse_setup_setting,
)
from bot.store.models import ImplementationStatus
from tests.fakes.anthropic_server import ClaudeCodeScript, ToolUseSpec
from tests.implement.conftest import REQUESTER, TOKEN, ImplementBench, bench_on
from tests.implement.support import git, make_remote

PACKAGE = "iso8601"  # small, pure Python, and not installed on this machine

PYPROJECT = f"""[project]
name = "dates"
version = "0.1.0"
dependencies = ["{PACKAGE}"]

[project.optional-dependencies]
test = []

[tool.setuptools]
py-modules = ["dates"]

[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"
"""
DATES = f'''"""Dates for the fixture project."""

import {PACKAGE}


def year(text: str) -> int:
    """The year of an ISO 8601 date."""
    return {PACKAGE}.parse_date(text).year
'''
TEST_DATES = """import unittest

from dates import year


class YearTest(unittest.TestCase):
    def test_year(self) -> None:
        self.assertEqual(year("2026-12-08T10:00:00Z"), 2026)
"""
RUN_TESTS = ".venv/bin/python -m unittest discover -q 2>&1 | tail -3"
CHANGED = (
    DATES
    + '''

def month(text: str) -> int:
    """The month of an ISO 8601 date."""
    return {package}.parse_date(text).month
'''.replace("{package}", PACKAGE)
)


def test_the_first_source_found_wins(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    detected = find_setup("api", tmp_path)
    assert detected == SetupPlan(
        "python3 -m venv .venv && .venv/bin/python -m pip install --progress-bar off -e '.[test]'",
        "pyproject.toml",
    )
    (tmp_path / ".devcontainer").mkdir()
    (tmp_path / ".devcontainer" / "devcontainer.json").write_text(
        '{\n  // the image\n  "image": "x",\n  "onCreateCommand": ["make", "deps"],\n'
        '  "postCreateCommand": {"a": "npm ci", "b": "echo \\"//not a comment\\""},\n}\n',
        encoding="utf-8",
    )
    container = find_setup("api", tmp_path)
    assert container is not None and container.source == ".devcontainer/devcontainer.json"
    assert container.command == '(make deps) && (npm ci) && (echo "//not a comment")'
    (tmp_path / ".agentdesk").mkdir()
    (tmp_path / ".agentdesk" / "setup.sh").write_text("make deps\n", encoding="utf-8")
    assert find_setup("api", tmp_path) == SetupPlan("sh .agentdesk/setup.sh", ".agentdesk/setup.sh")
    assert find_setup("api", tmp_path, setting="web=npm ci\napi=make bootstrap") == SetupPlan(
        "make bootstrap", "IMPLEMENT_SETUP"
    )


def test_node_and_requirements_projects_and_none(tmp_path: Path) -> None:
    assert find_setup("api", tmp_path) is None
    (tmp_path / "requirements.txt").write_text("iso8601\n", encoding="utf-8")
    plan = find_setup("api", tmp_path)
    assert plan is not None and plan.command.endswith("-r requirements.txt")
    (tmp_path / "requirements.txt").unlink()
    (tmp_path / "package.json").write_text("{}", encoding="utf-8")
    assert find_setup("api", tmp_path) == SetupPlan("npm install", "package.json")
    (tmp_path / "package-lock.json").write_text("{}", encoding="utf-8")
    assert find_setup("api", tmp_path) == SetupPlan("npm ci", "package.json")


def test_the_cache_key_follows_the_lock_file(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text("{}", encoding="utf-8")
    (tmp_path / "package-lock.json").write_text('{"a": 1}', encoding="utf-8")
    plan = SetupPlan("npm ci", "package.json")
    first = cache_key(plan, tmp_path)
    (tmp_path / "README.md").write_text("unrelated", encoding="utf-8")
    assert cache_key(plan, tmp_path) == first
    (tmp_path / "package-lock.json").write_text('{"a": 2}', encoding="utf-8")
    assert cache_key(plan, tmp_path) != first


def test_a_bad_setting_names_its_entry() -> None:
    with pytest.raises(SetupConfigError, match="`make deps` is not `name=command`"):
        parse_setup_setting("make deps")


@pytest.fixture
def python_bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ImplementBench]:
    if sandbox_missing():
        pytest.skip(f"the sandbox can't start here: {sandbox_missing()}")
    bare = make_remote(
        tmp_path,
        {"pyproject.toml": PYPROJECT, "dates.py": DATES, "test_dates.py": TEST_DATES},
    )
    yield from bench_on(bare, tmp_path, monkeypatch)


def _steps() -> list[object]:
    return [
        ToolUseSpec("Bash", {"command": RUN_TESTS, "description": "Run the tests"}),
        ToolUseSpec("Write", {"file_path": "{cwd}/dates.py", "content": CHANGED}),
        ToolUseSpec("Bash", {"command": RUN_TESTS, "description": "Run the tests again"}),
        ToolUseSpec(
            "Bash",
            {
                "command": ".venv/bin/python -m pip download --no-deps -d /tmp/x six 2>&1 | tail -2",
                "description": "Try the network",
            },
        ),
        "Added month(); the tests pass.",
    ]


def _run(bench: ImplementBench, conversation_id: int) -> tuple[ClaudeCodeScript, float]:
    script = ClaudeCodeScript(_steps())  # type: ignore[arg-type]
    bench.model.default = script
    outcome = bench.service.start_implementation(
        conversation_id=conversation_id, user_id=REQUESTER, user_name="Alice"
    )
    assert outcome.started, outcome.message
    started = time.monotonic()
    assert bench.run_queued() == [ImplementationStatus.SUCCEEDED]
    return script, time.monotonic() - started


def test_the_set_up_step_installs_what_the_tests_need_and_is_reused(
    python_bench: ImplementBench, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = python_bench
    first = bench.conversation()
    script, first_seconds = _run(bench, first)

    # The agent's commands ran the tests in the prepared environment, without a network.
    tests, again, network = script.results[0], script.results[2], script.results[3]
    notices = "\n".join(m.text for m in bench.notices(first))
    assert "OK" in tests.content and "OK" in again.content, notices
    assert "six" not in network.content or "rror" in network.content  # no way out
    notices = "\n".join(m.text for m in bench.notices(first))
    assert "Set-up step `python3 -m venv .venv" in notices and "(from pyproject.toml)" in notices
    assert "done in" in notices
    (pull,) = bench.github.pulls
    body = pull["body"]
    assert "Set-up step `python3 -m venv .venv" in body
    assert f"`{RUN_TESTS}`: passed" in body and "OK" in body
    assert "<system-reminder>" not in body and "USD budget" not in body
    branch = f"agentdesk/conversation-{first}"
    committed = git("ls-tree", "-r", "--name-only", branch, cwd=bench.bare).split()
    assert "dates.py" in committed and not any(
        name.startswith((".venv", "dates.egg-info")) for name in committed
    )
    assert TOKEN not in notices

    # A second run on the same project files starts from the kept environment.
    second = bench.conversation(thread_ts="1700000000.000200")
    script, second_seconds = _run(bench, second)
    assert "OK" in script.results[0].content
    notices = "\n".join(m.text for m in bench.notices(second))
    assert "its result was reused from an earlier run" in notices
    with capsys.disabled():
        print(f"\nset-up step: first run {first_seconds:.1f} s, second {second_seconds:.1f} s")
    assert second_seconds < first_seconds


def test_the_set_up_step_holds_nothing_of_agentdesks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run-secrets rules with a set-up step in play: the step writes down what it could
    read and reach, and the agent's command shows it."""
    if sandbox_missing():
        pytest.skip(f"the sandbox can't start here: {sandbox_missing()}")
    monkeypatch.setenv("AGENTDESK_SECRET_PROBE", "s3cr3t-value-of-agentdesk")
    reach = "import socket; socket.create_connection(('127.0.0.1', 5432), 2)"
    probe = (
        "env | sort > .probe\n"
        f"cat {tmp_path / 'agentdesk.db'} >> .probe 2>&1 || echo 'db: unreadable' >> .probe\n"
        f"ls {Path.home()} >> .probe 2>&1\n"
        f'python3 -c "{reach}" 2>> .probe || echo "loopback: refused" >> .probe\n'
        "python3 -m pip download --no-deps -d /tmp/d iso8601 >> .probe 2>&1\n"
    )
    bare = make_remote(tmp_path, {".agentdesk/setup.sh": probe, "README.md": "x\n"})
    for bench in bench_on(bare, tmp_path, monkeypatch):
        conversation_id = bench.conversation()
        script = ClaudeCodeScript(
            [ToolUseSpec("Bash", {"command": "cat .probe", "description": "Look"}), "Looked."]
        )
        bench.model.default = script
        outcome = bench.service.start_implementation(
            conversation_id=conversation_id, user_id=REQUESTER, user_name="Alice"
        )
        assert outcome.started, outcome.message
        assert bench.run_queued() == [ImplementationStatus.SUCCEEDED]
        shown = script.results[0].content
        for secret in ("s3cr3t-value-of-agentdesk", "AGENTDESK_SECRET_PROBE", TOKEN, "GH_TOKEN"):
            assert secret not in shown
        assert "ANTHROPIC" not in shown and "SQLite format" not in shown
        assert "db: unreadable" in shown and "loopback: refused" in shown
        assert "Saved" in shown  # the registries, and only they, are reachable
        branch = f"agentdesk/conversation-{conversation_id}"
        assert bench.github.pulls == [] or ".probe" not in git(
            "ls-tree", "-r", "--name-only", branch, cwd=bench.bare
        )


@pytest.mark.parametrize(
    ("output", "verdict"),
    [
        ("Ran 3 tests in 0.1s\n\nOK", True),
        ("Ran 3 tests in 0.1s\n\nFAILED (failures=1)", False),
        ("===== 12 passed in 0.31s =====", True),
        ("===== 1 failed, 11 passed in 0.31s =====", False),
        ("Tests:       2 failed, 8 passed, 10 total", False),
        ("test result: ok. 4 passed; 0 failed", True),
        ("compiling…", None),
    ],
)
def test_a_suites_own_summary_decides_its_outcome(output: str, verdict: bool | None) -> None:
    assert suite_verdict(output) is verdict
