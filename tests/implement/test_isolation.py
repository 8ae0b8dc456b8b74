"""The walls of a run, piece by piece: the launcher's environment, the hidden places, the
secrets agentdesk knows it holds, and the files never committed."""

import json
import subprocess
import sys
from pathlib import Path

from pydantic import SecretStr

from bot.config import held_secrets
from bot.implement.cli_launcher import run_environment
from bot.implement.isolation import isolated_run, protected_paths
from bot.implement.leaks import SecretGuard, unsafe_file
from tests.support import make_settings


def test_the_launcher_keeps_only_the_runs_environment_and_the_sdks_own() -> None:
    parent = {
        "AGENTDESK_RUN_CLI": "/opt/claude",
        "AGENTDESK_RUN_ENV": json.dumps({"PATH": "/usr/bin", "HOME": "/run/home"}),
        "CLAUDE_CODE_ENTRYPOINT": "sdk-py",
        "CLAUDE_AGENT_SDK_VERSION": "0.2.190",
        "ANTHROPIC_API_KEY": "sk-ant-secret",
        "SLACK_BOT_TOKEN": "xoxb-secret",
        "CLAUDE_CODE_OAUTH_TOKEN": "oauth-secret",
        "HOME": "/root",
    }
    cli, env = run_environment(parent)
    assert cli == "/opt/claude"
    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/run/home",
        "CLAUDE_CODE_ENTRYPOINT": "sdk-py",
        "CLAUDE_AGENT_SDK_VERSION": "0.2.190",
    }


def test_the_launcher_becomes_the_cli_with_nothing_else(tmp_path: Path) -> None:
    launcher = Path(__file__).parents[2] / "bot" / "implement" / "cli_launcher.py"
    env = {
        "AGENTDESK_RUN_CLI": "/usr/bin/env",
        "AGENTDESK_RUN_ENV": json.dumps({"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}),
        "SLACK_SIGNING_SECRET": "s3cr3t-signing",
    }
    printed = subprocess.run(
        [sys.executable, "-I", str(launcher)], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert sorted(printed.split()) == ["LANG=C.UTF-8", "PATH=/usr/bin:/bin"]


def test_agentdesks_places_are_hidden_and_the_run_gets_its_own(tmp_path: Path) -> None:
    local = tmp_path / "local-repo"
    local.mkdir()
    settings = make_settings(
        tmp_path,
        anthropic_api_key="sk-ant-api03-" + "k" * 30,
        repos=f"docs={local}",
        repos_cache_dir=tmp_path / "mirrors",
        implement_work_dir=tmp_path / "runs",
    )
    hidden = protected_paths(settings, cwd=tmp_path / "app")
    for place in (tmp_path, tmp_path / "app", tmp_path / "mirrors", tmp_path / "runs", local):
        assert place.resolve() in hidden
    assert Path.home().resolve() in hidden and Path("/") not in hidden
    worktree, mirror = tmp_path / "runs" / "wt", tmp_path / "mirrors" / "api"
    with isolated_run(
        settings=settings,
        worktree=worktree,
        mirror_root=mirror,
        api_key="sk-ant-api03-" + "k" * 30,
        environ={"PATH": f"{tmp_path}/app/.venv/bin:/usr/bin", "SLACK_BOT_TOKEN": "xoxb-1"},
        cli="/opt/claude",
    ) as isolation:
        assert isolation.folder.parent == (tmp_path / "runs").resolve()
        assert str(isolation.folder) in isolation.deny_read
        assert isolation.allow_read[:2] == (str(worktree.resolve()), str(mirror.resolve()))
        env = isolation.environment
        assert ".venv" not in env["PATH"] and "/usr/bin" in env["PATH"].split(":")
        assert env["HOME"].startswith(str(isolation.folder))
        assert "xoxb-1" not in json.dumps(isolation.launcher_variables)
        assert "sk-ant" not in json.dumps(isolation.launcher_variables)
        helper = Path(isolation.settings["apiKeyHelper"])
        key = subprocess.run([str(helper)], capture_output=True, text=True, check=True).stdout
        assert key == "sk-ant-api03-" + "k" * 30
    assert not isolation.folder.exists()


def test_held_secrets_come_from_settings_the_environment_and_the_database_url(
    tmp_path: Path,
) -> None:
    settings = make_settings(
        tmp_path,
        slack_bot_token=SecretStr("xoxb-from-settings-1"),
        database_url="postgresql+psycopg://app:db-password-9@127.0.0.1/app",
    )
    held = held_secrets(
        settings,
        token_variables=["PUSH_WITH"],
        environ={
            "PUSH_WITH": "user:repo-password-7",
            "STRIPE_API_KEY": "sk_live_abcdefgh",
            "GIT_AUTHOR_NAME": "agentdesk-bot",
            "SSH_AUTH_SOCK": "/tmp/ssh-agent.sock",
        },
    )
    assert held["xoxb-from-settings-1"] == "SLACK_BOT_TOKEN"
    assert held["db-password-9"] == "the database password"
    assert held["user:repo-password-7"] == held["repo-password-7"] == "PUSH_WITH"
    assert held["sk_live_abcdefgh"] == "STRIPE_API_KEY"
    assert "agentdesk-bot" not in held and "/tmp/ssh-agent.sock" not in held


def test_the_guard_names_what_it_finds_and_never_the_value() -> None:
    guard = SecretGuard({"exact-secret-value": "SLACK_SIGNING_SECRET", "short": "X"})
    text = (
        "one exact-secret-value, a ghp_" + "A" * 36 + " token, "
        "sk-ant-api03-" + "z" * 24 + " and -----BEGIN OPENSSH PRIVATE KEY-----; short"
    )
    kinds = [f.kind for f in guard.findings(text, where="notes.md")]
    assert kinds == [
        "the value of SLACK_SIGNING_SECRET",
        "an Anthropic API key",
        "a GitHub Token",
        "a Private Key",
    ]
    redacted = guard.redact(text)
    assert "exact-secret-value" not in redacted and "ghp_" not in redacted
    assert "sk-ant" not in redacted and redacted.endswith("short")  # too short to be a secret
    assert guard.findings("def add(a, b):\n    return a + b\n", where="calc.py") == []


def test_files_that_look_like_secrets_or_databases(tmp_path: Path) -> None:
    def file(name: str, content: bytes = b"x") -> Path:
        path = tmp_path / name
        path.write_bytes(content)
        return path

    assert unsafe_file(file(".env")) == "an environment file"
    assert unsafe_file(file(".env.production")) == "an environment file"
    assert unsafe_file(file(".env.example")) is None
    assert unsafe_file(file("id_ed25519")) == "a key file"
    assert unsafe_file(file("server.pem")) == "a key file"
    assert unsafe_file(file("app.sqlite3")) == "a database file"
    assert unsafe_file(file("leak.bin", b"SQLite format 3\x00...")) == "a database file"
    assert unsafe_file(file("backup.out", b"PGDMP\x01")) == "a database file"
    assert unsafe_file(file("migration.sql", b"CREATE TABLE t (id int);")) is None
    assert unsafe_file(file("calc.py", b"def add(): ...")) is None
