"""Any workspace: OAuth installs through Bolt's flow over real HTTP, each workspace served
with its own token, and the one SLACK_BOT_TOKEN workspace kept working."""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.slack.workspaces import WorkspaceNotInstalledError
from bot.store import oauth_tables
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.slack_server import FakeSlack, visible_text
from tests.slack.conftest import BACKEND, CHANNEL, SECRET, SlackHarness, is_card, serving
from tests.support import QUESTIONS, make_settings

SECOND = "T0002"
SECOND_BOT_USER = "UBOTT0002"
SECOND_BOT_ID = "BBOTT0002"
SECOND_CHANNEL = "C2DESK"
CAROL = "U3CAROL"


def _oauth_settings(tmp_path: Path, slack: FakeSlack, model: FakeAnthropic) -> Settings:
    """OAuth mode, with the workspace served before OAuth was turned on (SLACK_BOT_TOKEN)."""
    return make_settings(
        tmp_path,
        model,
        slack_bot_token="xoxb-test",
        slack_signing_secret=SECRET,
        slack_api_url=slack.api_url,
        slack_client_id=slack.client_id,
        slack_client_secret=slack.client_secret,
    )


@pytest.fixture
def oauth_harness(
    tmp_path: Path,
    fake_slack: FakeSlack,
    fake_anthropic: FakeAnthropic,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[SlackHarness]:
    settings = _oauth_settings(tmp_path, fake_slack, fake_anthropic)
    with serving(settings, fake_slack, fake_anthropic, monkeypatch) as running:
        yield running


def _install(harness: SlackHarness, team_id: str) -> None:
    """Someone installs the app from /slack/install, as a browser would."""
    page = harness.get("/slack/install")
    assert page.status == 200
    state = re.search(r"state=([0-9a-f-]+)", page.body)
    assert state is not None, page.body
    cookie = page.headers["set-cookie"].split(";")[0]
    assert cookie == f"slack-app-oauth-state={state.group(1)}"
    code = harness.slack.grant_install(team_id, installer=CAROL)
    done = harness.get(
        f"/slack/oauth_redirect?code={code}&state={state.group(1)}", headers={"Cookie": cookie}
    )
    assert done.status == 200, done.body


def _mention_in_second(harness: SlackHarness, text: str) -> str:
    ts = harness.slack.add_user_message(SECOND_CHANNEL, f"<@{SECOND_BOT_USER}> {text}", CAROL)
    envelope: dict[str, Any] = harness.envelope(
        harness.slack.message_event(SECOND_CHANNEL, ts, event_type="app_mention")
    )
    envelope["team_id"] = SECOND
    envelope["event"]["team"] = SECOND
    envelope["authorizations"][0].update(team_id=SECOND, user_id=SECOND_BOT_USER)
    assert harness.send_envelope(envelope).status == 200
    return ts


def _second_bot_messages(harness: SlackHarness, thread: str) -> list[dict[str, Any]]:
    return [
        m
        for m in harness.slack.thread(SECOND_CHANNEL, thread)
        if m.get("bot_id") == SECOND_BOT_ID and not is_card(m)
    ]


def test_a_second_workspace_installs_and_is_served_with_its_own_token(
    oauth_harness: SlackHarness,
) -> None:
    harness = oauth_harness
    harness.desk.configure_channel(team_id=SECOND, channel_id=SECOND_CHANNEL, default_agent=BACKEND)

    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    first = harness.mention("Add SSO with Okta")
    harness.wait_for_text(CHANNEL, first, "Which identity providers?")
    harness.wait_idle()

    _install(harness, SECOND)
    token = harness.slack.token_of(SECOND)
    assert token is not None and token != "xoxb-test"
    with harness.desk.engine.connect() as connection:
        teams = connection.execute(select(oauth_tables.bots.c.team_id)).scalars().all()
    assert sorted(teams) == ["T0001", SECOND]

    harness.slack.reset_calls()
    harness.slack.add_user(CAROL, real_name="Carol Chen", display_name="carol")
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    second = _mention_in_second(harness, "Add dark mode")
    harness.slack.wait_for(
        lambda: _second_bot_messages(harness, second), message="a reply in the second workspace"
    )
    harness.wait_idle()
    [reply] = _second_bot_messages(harness, second)
    assert "Which identity providers?" in visible_text(reply)
    assert set(harness.slack.tokens_used("chat.postMessage")) == {token}
    assert set(harness.slack.tokens_used("users.info")) == {token}
    [carol] = [m for m in harness.stored_messages() if m.author_id == CAROL]
    assert carol.author_name == "carol"  # looked up in her own workspace
    assert harness.conversation_of(CHANNEL, first).team_id == "T0001"

    # The first workspace keeps working, with its own token.
    harness.slack.reset_calls()
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    again = harness.mention("Add audit logs")
    harness.wait_for_text(CHANNEL, again, "Which identity providers?")
    harness.wait_idle()
    assert set(harness.slack.tokens_used("chat.postMessage")) == {"xoxb-test"}


def test_an_install_with_a_forged_state_is_refused(oauth_harness: SlackHarness) -> None:
    code = oauth_harness.slack.grant_install(SECOND)
    refused = oauth_harness.get(f"/slack/oauth_redirect?code={code}&state=forged")
    assert refused.status == 400
    assert oauth_harness.slack.token_of(SECOND) is None
    assert oauth_harness.slack.calls_to("oauth.v2.access") == []


def test_an_uninstall_forgets_the_workspaces_tokens(oauth_harness: SlackHarness) -> None:
    harness = oauth_harness
    _install(harness, SECOND)
    assert harness.app.services.client_for(SECOND).token == harness.slack.token_of(SECOND)

    envelope = harness.envelope({"type": "app_uninstalled", "event_ts": "1700000100.000100"})
    envelope["team_id"] = SECOND
    envelope["authorizations"][0].update(team_id=SECOND, user_id=SECOND_BOT_USER)
    assert harness.send_envelope(envelope).status == 200

    def forgotten() -> bool:
        with harness.desk.engine.connect() as connection:
            return not connection.execute(
                select(oauth_tables.bots.c.id).where(oauth_tables.bots.c.team_id == SECOND)
            ).first()

    harness.slack.wait_for(forgotten, message="the second workspace's tokens deleted")
    with pytest.raises(WorkspaceNotInstalledError):
        harness.app.services.client_for(SECOND)
    assert harness.app.services.client_for("T0001").token == "xoxb-test"  # the first stays


def test_an_expiring_token_is_rotated_before_the_workspace_is_served(
    oauth_harness: SlackHarness,
) -> None:
    harness = oauth_harness
    harness.desk.configure_channel(team_id=SECOND, channel_id=SECOND_CHANNEL, default_agent=BACKEND)
    page = harness.get("/slack/install")
    state = re.search(r"state=([0-9a-f-]+)", page.body)
    assert state is not None
    code = harness.slack.grant_install(SECOND, installer=CAROL, token_seconds=3600)
    done = harness.get(
        f"/slack/oauth_redirect?code={code}&state={state.group(1)}",
        headers={"Cookie": page.headers["set-cookie"].split(";")[0]},
    )
    assert done.status == 200
    installed = harness.slack.token_of(SECOND)

    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    second = _mention_in_second(harness, "Add dark mode")
    harness.slack.wait_for(lambda: _second_bot_messages(harness, second), message="a reply")
    harness.wait_idle()
    # Expiring within the hour (under Bolt's two-hour margin), so it was refreshed first.
    rotated = harness.slack.token_of(SECOND)
    assert rotated != installed
    assert harness.slack.tokens_used("chat.postMessage")[-1] == rotated
    with harness.desk.engine.connect() as connection:
        stored = (
            connection.execute(
                select(oauth_tables.bots.c.bot_token).where(oauth_tables.bots.c.team_id == SECOND)
            )
            .scalars()
            .all()
        )
    assert rotated in stored


def _stored_apps(harness: SlackHarness, team_id: str) -> list[str]:
    with harness.desk.engine.connect() as connection:
        return [
            str(row[0])
            for row in connection.execute(
                select(oauth_tables.installations.c.app_id).where(
                    oauth_tables.installations.c.team_id == team_id
                )
            )
        ]


def test_the_token_workspace_is_stored_with_the_app_bots_info_names(
    oauth_harness: SlackHarness,
) -> None:
    # auth.test leaves out app_id, as Slack's response types allow (the fake's default)
    assert not oauth_harness.slack.auth_test_names_app
    assert oauth_harness.slack.calls_to("bots.info") == [{"bot": oauth_harness.slack.bot_id}]
    assert _stored_apps(oauth_harness, "T0001") == [oauth_harness.slack.app_id]


def test_without_an_app_id_anywhere_the_token_workspace_is_still_served(
    tmp_path: Path,
    fake_slack: FakeSlack,
    fake_anthropic: FakeAnthropic,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_slack.fail_next("bots.info", error="missing_scope", extra={"needed": "users:read"})
    settings = _oauth_settings(tmp_path, fake_slack, fake_anthropic)
    with serving(settings, fake_slack, fake_anthropic, monkeypatch) as harness:
        assert _stored_apps(harness, "T0001") == [""]
        harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
        thread = harness.mention("Add SSO with Okta")
        harness.wait_for_text(CHANNEL, thread, "Which identity providers?")
        harness.wait_idle()
