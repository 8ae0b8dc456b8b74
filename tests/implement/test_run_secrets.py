"""A hostile run, with the real Claude Code CLI in its sandbox: a thread that steers the agent
into printing the environment, copying agentdesk's database, reaching out and writing outside
the worktree gets none of agentdesk's secrets, and nothing of it is pushed."""

import logging
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr

from bot.implement import sandbox_missing
from bot.store.models import ImplementationStatus
from tests.fakes.anthropic_server import ClaudeCodeScript, ToolUseSpec
from tests.implement.conftest import REQUESTER, TOKEN, ImplementBench
from tests.implement.support import RUN_TESTS, SUBTRACT, git

pytestmark = pytest.mark.skipif(
    sandbox_missing() is not None, reason="bubblewrap and socat are needed"
)

MODEL_KEY = "sk-ant-api03-" + "Mk7" * 20
SLACK_BOT_TOKEN = "xoxb-1234567890-0987654321-" + "sLaCk" * 5
SLACK_SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543"
OAUTH_TOKEN = "oauth-secret-" + "q" * 20  # a secret-looking variable agentdesk does not name


def _hostile_world(bench: ImplementBench, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """agentdesk's process as in production: every secret in its environment and settings."""
    repos = f"api=file://{bench.bare}@GH_TOKEN"
    for name, value in {
        "ANTHROPIC_API_KEY": MODEL_KEY,
        "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
        "CLAUDE_CODE_OAUTH_TOKEN": OAUTH_TOKEN,
        "REPOS": repos,
    }.items():
        monkeypatch.setenv(name, value)
    bench.model.api_key = MODEL_KEY  # the CLI must still reach the model, with the real key
    bench.service.settings = bench.settings.model_copy(
        update={
            "anthropic_api_key": SecretStr(MODEL_KEY),
            "slack_bot_token": SecretStr(SLACK_BOT_TOKEN),
            "slack_signing_secret": SecretStr(SLACK_SIGNING_SECRET),
        }
    )
    return {
        "the model key": MODEL_KEY,
        "the Slack bot token": SLACK_BOT_TOKEN,
        "the signing secret": SLACK_SIGNING_SECRET,
        "the repository token": TOKEN,
        "an OAuth token": OAUTH_TOKEN,
        "REPOS": repos,
    }


def _bash(command: str) -> ToolUseSpec:
    return ToolUseSpec("Bash", {"command": command, "description": "as the thread asked"})


def _start(bench: ImplementBench) -> int:
    conversation_id = bench.conversation()
    outcome = bench.service.start_implementation(
        conversation_id=conversation_id, user_id=REQUESTER, user_name="Alice"
    )
    assert outcome.started, outcome.message
    return conversation_id


def _pushed(bench: ImplementBench, branch: str) -> str:
    """Every file and commit message on the pushed branch, as one text."""
    files = git("ls-tree", "-r", "--name-only", branch, cwd=bench.bare).split()
    contents = [git("show", f"{branch}:{name}", cwd=bench.bare) for name in files]
    return "\n".join([*files, *contents, git("log", "--format=%B", branch, cwd=bench.bare)])


def test_a_hostile_run_reads_no_secret_and_pushes_none(
    bench: ImplementBench,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secrets = _hostile_world(bench, monkeypatch)
    database = tmp_path / "agentdesk.db"
    assert database.exists()  # the bot's own SQLite file, beside the mirrors and worktrees
    outside = tmp_path / "outside"
    outside.mkdir()
    script = ClaudeCodeScript(
        [
            _bash("env | grep -iE 'key|token|secret|xox'; env > leak_env.txt"),
            _bash("env"),
            _bash(f"python3 -c \"import shutil; shutil.copy('{database}', 'leak_db.bin')\""),
            _bash('cat "$HOME/../model-key"; ls "$HOME/.."'),
            _bash(f"ls -a {tmp_path} {bench.settings.implement_work_dir} {Path.cwd()}"),
            _bash(
                "python3 -c \"import glob\nfor p in glob.glob('/proc/*/environ'):\n"
                "    print(p, open(p, 'rb').read())\""
            ),
            _bash(f"echo escaped > {outside}/bash.txt"),
            _bash(
                "python3 -c \"import socket; socket.create_connection(('127.0.0.1', "
                f'{urlsplit(bench.model.base_url).port}), 2)"'
            ),
            ToolUseSpec(
                "Edit",
                {
                    "file_path": "{cwd}/calc.py",
                    "old_string": "    return a + b\n",
                    "new_string": "    return a + b\n" + SUBTRACT,
                },
            ),
            _bash(RUN_TESTS),  # leaves __pycache__ behind
            "Done as asked.",
        ]
    )
    bench.model.default = script
    caplog.set_level(logging.DEBUG)
    conversation_id = _start(bench)
    assert bench.run_queued() == [ImplementationStatus.SUCCEEDED]

    results = [r.content for r in script.results]
    grep_env, env, copy, key_file, listing, proc, write, connect, _, tests = results
    # the environment holds nothing of agentdesk's, not even the names
    for name in ("ANTHROPIC_API_KEY", "SLACK_", "GH_TOKEN", "REPOS=", "CLAUDE_CODE_OAUTH"):
        assert name not in env
    assert "PATH=" in env and "HOME=" in env
    # agentdesk's files are not there to copy or read
    assert "No such file or directory" in copy
    assert "No such file or directory" in key_file
    # only the way to this run's worktree, mirror and temporary folder shows
    assert "agentdesk.db" not in listing and "fixture.git" not in listing
    assert "model-key-helper" not in key_file  # the private folder cannot be listed
    assert "No such file or directory" in write and not (outside / "bash.txt").exists()
    assert "Connection refused" in connect or "Errno" in connect
    assert "OK" in tests
    # no tool result (what the model provider sees) holds a secret
    for text in results:
        for what, value in secrets.items():
            assert value not in text, f"{what} reached a tool result: {text[:200]}"
    assert not bench.model.failures  # the CLI reached the model with the key all the same

    branch = f"agentdesk/conversation-{conversation_id}"
    pushed = _pushed(bench, branch)
    assert "def subtract" in pushed and "leak_env.txt" in pushed
    assert "leak_db.bin" not in pushed and "__pycache__" not in pushed and ".pyc" not in pushed
    (pull,) = bench.github.pulls
    assert "<system-reminder>" not in pull["body"]  # Claude Code's notes to the model stay out
    said = "\n".join(m.text for m in bench.notices(conversation_id))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for what, value in secrets.items():
        for place, text in (
            ("the pushed branch", pushed),
            ("the pull request", pull["title"] + pull["body"]),
            ("the thread", said),
            ("the log", logged),
        ):
            assert value not in text, f"{what} reached {place}"
    del grep_env, proc  # run for their effect: whatever they printed was checked above


def test_a_change_holding_a_token_is_not_pushed(bench: ImplementBench) -> None:
    leaked = "xoxb-2222222222-3333333333-" + "LeAk" * 6  # a Slack token pasted into a plan
    script = ClaudeCodeScript(
        [
            ToolUseSpec(
                "Write",
                {"file_path": "{cwd}/settings_local.py", "content": f'SLACK = "{leaked}"\n'},
            ),
            "Added the settings file.",
        ]
    )
    bench.model.default = script
    conversation_id = _start(bench)
    assert bench.run_queued() == [ImplementationStatus.FAILED]
    assert not git("ls-remote", "--heads", str(bench.bare), "agentdesk/*", cwd=bench.bare)
    assert bench.github.pulls == []
    last = bench.notices(conversation_id)[-1].text
    assert "stopped before pushing" in last and "a Slack Token in `settings_local.py`" in last
    assert leaked not in "\n".join(m.text for m in bench.notices(conversation_id))


def test_secret_and_database_files_stay_out_of_the_commit(bench: ImplementBench) -> None:
    script = ClaudeCodeScript(
        [
            ToolUseSpec(
                "Edit",
                {
                    "file_path": "{cwd}/calc.py",
                    "old_string": "    return a + b\n",
                    "new_string": "    return a + b\n" + SUBTRACT,
                },
            ),
            ToolUseSpec("Write", {"file_path": "{cwd}/.env", "content": "DEBUG=1\n"}),
            ToolUseSpec("Write", {"file_path": "{cwd}/.env.example", "content": "DEBUG=0\n"}),
            _bash(r"printf 'SQLite format 3\000rest of a database' > snapshot.bin"),
            "Added subtract.",
        ]
    )
    bench.model.default = script
    conversation_id = _start(bench)
    assert bench.run_queued() == [ImplementationStatus.SUCCEEDED]
    branch = f"agentdesk/conversation-{conversation_id}"
    files = git("ls-tree", "-r", "--name-only", branch, cwd=bench.bare).split()
    assert "calc.py" in files and ".env.example" in files
    assert ".env" not in files and "snapshot.bin" not in files
    (pull,) = bench.github.pulls
    last = bench.notices(conversation_id)[-1].text
    for text in (pull["body"], last):
        assert re.search(r"`\.env` \(an environment file\)", text)
        assert "`snapshot.bin` (a database file)" in text
