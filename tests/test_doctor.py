"""`agentdesk doctor` against the fakes: what is right, what is wrong, and what to do."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from bot.config import get_settings
from bot.runtime.doctor import find_manifest, manifest_problems, required_scopes, run_checks
from tests.conftest import PROJECT_ROOT
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.slack_server import FakeSlack
from tests.support import make_settings

runner = CliRunner(env={"COLUMNS": "200"})


def test_the_manifest_scopes_are_read() -> None:
    manifest = json.loads((PROJECT_ROOT / "manifest.json").read_text(encoding="utf-8"))
    assert required_scopes(manifest=find_manifest()) == set(
        manifest["oauth_config"]["scopes"]["bot"]
    )
    assert {"chat:write", "commands", "app_mentions:read", "im:history"} <= required_scopes(
        manifest=find_manifest()
    )


def test_everything_right(tmp_path: Path) -> None:
    with (
        FakeSlack(scopes=tuple(sorted(required_scopes(manifest=find_manifest())))) as slack,
        FakeAnthropic() as model,
    ):
        settings = make_settings(
            tmp_path,
            model,
            slack_bot_token="xoxb-test",
            slack_app_token="xapp-1-test",
            slack_api_url=slack.api_url,
        )
        checks = {check.name: check for check in run_checks(settings=settings)}
    assert all(check.ok for check in checks.values()), checks
    assert checks["Slack bot token"].detail.startswith("bot agentdesk (UBOT)")
    assert checks["Slack mode"].detail == "Socket Mode"
    assert checks["Model API key"].detail.startswith("accepted (claude-sonnet-5-5")


def test_missing_scopes_a_bad_token_and_no_key_say_what_to_fix(tmp_path: Path) -> None:
    with FakeSlack(scopes=("chat:write",)) as slack:
        settings = make_settings(tmp_path, slack_bot_token="xoxb-test", slack_api_url=slack.api_url)
        checks = {check.name: check for check in run_checks(settings=settings)}
        scopes = checks["Slack scopes"]
        assert not scopes.ok and "commands" in scopes.detail and "im:history" in scopes.detail
        assert "reinstall" in scopes.fix
        assert not checks["Slack mode"].ok
        assert not checks["Model API key"].ok
        assert "ANTHROPIC_BASE_URL" in checks["Model API key"].fix

        refused = make_settings(
            tmp_path, slack_bot_token="xoxb-revoked", slack_api_url=slack.api_url
        )
        token = next(c for c in run_checks(refused) if c.name == "Slack bot token")
        assert not token.ok
        assert token.detail == "Slack refused SLACK_BOT_TOKEN (auth.test failed: invalid_auth)"


def test_without_the_manifest_the_scopes_are_not_called_granted(tmp_path: Path) -> None:
    with FakeSlack(scopes=("chat:write",)) as slack:
        settings = make_settings(tmp_path, slack_bot_token="xoxb-test", slack_api_url=slack.api_url)
        checks = run_checks(settings=settings, manifest=tmp_path / "missing" / "manifest.json")
    scopes = next(check for check in checks if check.name == "Slack scopes")
    assert not scopes.ok
    assert "manifest.json" in scopes.detail and "all granted" not in scopes.detail
    assert "granted: chat:write" in scopes.detail
    assert scopes.fix


def test_the_command_exits_1_and_never_prints_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_MAX_RETRIES", "0")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-very-secret")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "FAIL" in result.output and "→" in result.output
    assert "very-secret" not in result.output


def test_implementation_runs_say_where_pull_requests_go(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        repos="api=file:///srv/api.git@GH_TOKEN, docs=/srv/docs",
        implement_github_repos="api=acme/api",
        implement_enabled=True,
    )
    check = next(c for c in run_checks(settings) if c.name == "Implementation runs")
    assert check.ok and "on everywhere" in check.detail
    assert "pull requests in api → acme/api" in check.detail
    assert "repo docs is a local folder" in check.detail
    nowhere = make_settings(tmp_path, repos="", implement_enabled=True)
    check = next(c for c in run_checks(nowhere) if c.name == "Implementation runs")
    assert not check.ok and "no repository to push to" in check.detail


def test_implementation_runs_say_which_repositories_open_gitlab_merge_requests(
    tmp_path: Path,
) -> None:
    settings = make_settings(
        tmp_path,
        repos="api=file:///srv/api.git@GH_TOKEN, web=https://git.acme.example/fe/web.git@GL",
        implement_github_repos="api=acme/api",
        implement_gitlab_projects="web=fe/apps/web",
        gitlab_api_url="https://git.acme.example",
        implement_enabled=True,
    )
    check = next(c for c in run_checks(settings) if c.name == "Implementation runs")
    assert check.ok
    assert "pull requests in api → acme/api on GitHub" in check.detail
    assert "merge requests in web → fe/apps/web on GitLab (https://git.acme.example)" in (
        check.detail
    )
    both = make_settings(
        tmp_path,
        repos="api=file:///srv/api.git@GH_TOKEN",
        implement_github_repos="api=acme/api",
        implement_gitlab_projects="api=acme/api",
        implement_enabled=True,
    )
    check = next(c for c in run_checks(both) if c.name == "Implementation runs")
    assert not check.ok
    assert "repo api is named in both IMPLEMENT_GITHUB_REPOS and IMPLEMENT_GITLAB_PROJECTS" in (
        check.detail
    )


def test_the_manifest_carries_every_scope_event_and_feature_in_use(tmp_path: Path) -> None:
    assert manifest_problems() == []
    manifest = json.loads((PROJECT_ROOT / "manifest.json").read_text(encoding="utf-8"))
    assert "assistant:write" not in manifest["oauth_config"]["scopes"]["bot"]  # chat:write does
    manifest["features"]["app_home"]["home_tab_enabled"] = False
    manifest["settings"]["event_subscriptions"]["bot_events"].remove("agent_session_stopped")
    old = tmp_path / "manifest.json"
    old.write_text(json.dumps(manifest), encoding="utf-8")
    assert manifest_problems(manifest=old) == [
        "event agent_session_stopped",
        "the Home tab (features.app_home.home_tab_enabled)",
    ]
    with FakeSlack() as slack:
        settings = make_settings(tmp_path, slack_bot_token="xoxb-test", slack_api_url=slack.api_url)
        checks = {check.name: check for check in run_checks(settings, manifest=old)}
    assert not checks["Slack manifest"].ok
    assert "agent_session_stopped" in checks["Slack manifest"].detail


def test_doctor_names_each_set_up_step_and_runs_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.implement.availability import sandbox_missing

    if sandbox_missing():
        pytest.skip(f"the sandbox can't start here: {sandbox_missing()}")
    repo = tmp_path / "api"
    (repo / ".agentdesk").mkdir(parents=True)
    (repo / ".agentdesk" / "setup.sh").write_text("echo ready > .ready\n", encoding="utf-8")
    monkeypatch.setenv("REPOS", f"api={repo}")
    monkeypatch.setenv("IMPLEMENT_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'agentdesk.db'}")
    listed = runner.invoke(app, ["doctor"])
    text = " ".join(listed.output.split())
    assert (
        "Set-up steps: api: set-up step `sh .agentdesk/setup.sh` (from .agentdesk/setup.sh)" in text
    )
    ran = runner.invoke(app, ["doctor", "--setup", "api"])
    assert ran.exit_code == 0, ran.output
    assert "(from .agentdesk/setup.sh): done in" in " ".join(ran.output.split())
    assert not (repo / ".ready").exists()  # it ran on a copy, not on the team's folder
    unknown = runner.invoke(app, ["doctor", "--setup", "web"])
    assert unknown.exit_code == 1 and "no repository 'web' in REPOS" in unknown.output


def test_doctor_says_who_signs_off_and_names_a_bad_codeowners_mapping(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'agentdesk.db'}")
    monkeypatch.setenv("APPROVERS", "U0ALICE,S0LEADS")
    shown = " ".join(runner.invoke(app, ["doctor"]).output.split())
    assert "ok Sign-off: the approvers (2) sign requirement cards off" in shown
    monkeypatch.setenv("REQUIRE_CODEOWNERS", "true")
    monkeypatch.setenv("CODEOWNERS_SLACK", "@alice")
    get_settings.cache_clear()
    shown = " ".join(runner.invoke(app, ["doctor"]).output.split())
    assert "FAIL Sign-off: CODEOWNERS_SLACK entry `@alice` is not `owner=SLACK_ID`" in shown
