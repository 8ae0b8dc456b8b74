"""Tests of the fake Slack Web API, driven by the real slack_sdk / slack_bolt clients."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.models.messages.chunk import TaskUpdateChunk
from slack_sdk.webhook import WebhookClient

from tests.conftest import PROJECT_ROOT
from tests.fakes.slack_server import MAX_MARKDOWN_CHARS, FakeSlack, visible_text


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(
        users={
            "U1": {
                "real_name": "Ada Lovelace",
                "tz": "Europe/London",
                "tz_label": "Greenwich Mean Time",
                "tz_offset": 0,
            }
        }
    ) as server:
        yield server


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=fake.api_url)


def _header(headers: dict[str, object], name: str) -> object:
    """Case-insensitive header lookup on a SlackResponse's headers."""
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value[0] if isinstance(value, list) else value
    raise KeyError(name)


def test_auth_test_fields_and_scopes_header(fake: FakeSlack, client: WebClient) -> None:
    response = client.auth_test()
    assert response["ok"] is True
    assert response["user_id"] == "UBOT"
    assert response["bot_id"] == "BBOT"
    assert response["team_id"] == "T0001"
    scopes = str(_header(response.headers, "x-oauth-scopes")).split(",")
    assert "chat:write" in scopes
    assert fake.calls_to("auth.test") == [{}]


def test_configured_identity_and_scopes() -> None:
    with FakeSlack(bot_user_id="U9", bot_id="B9", team_id="T9", scopes=["chat:write"]) as fake:
        response = WebClient(token="xoxb-test", base_url=fake.api_url).auth_test()
        assert (response["user_id"], response["bot_id"], response["team_id"]) == ("U9", "B9", "T9")
        assert _header(response.headers, "x-oauth-scopes") == "chat:write"


def test_only_the_manifests_scopes_are_granted_and_methods_need_theirs(
    fake: FakeSlack, client: WebClient
) -> None:
    manifest = json.loads((PROJECT_ROOT / "manifest.json").read_text(encoding="utf-8"))
    granted = str(_header(client.auth_test().headers, "x-oauth-scopes")).split(",")
    assert granted == manifest["oauth_config"]["scopes"]["bot"]
    assert "assistant:write" not in granted
    with FakeSlack(scopes=["chat:write"]) as narrow:
        limited = WebClient(token="xoxb-test", base_url=narrow.api_url)
        limited.assistant_threads_setStatus(channel_id="C1", thread_ts="1.0", status="working")
        with pytest.raises(SlackApiError) as excinfo:
            limited.users_info(user="UBOT")
        assert excinfo.value.response["error"] == "missing_scope"
        assert excinfo.value.response["needed"] == "users:read"


def test_unknown_or_missing_token_is_invalid_auth(fake: FakeSlack) -> None:
    for token in ("xoxb-wrong", None):
        with pytest.raises(SlackApiError) as excinfo:
            WebClient(token=token, base_url=fake.api_url).auth_test()
        assert excinfo.value.response["error"] == "invalid_auth"


def test_unknown_method(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("nope.nothing")
    assert excinfo.value.response["error"] == "unknown_method"


def test_post_message_in_thread_shows_in_thread(fake: FakeSlack, client: WebClient) -> None:
    parent = fake.add_user_message("C1", "<@UBOT> design a login page", user="U1")
    first = client.chat_postMessage(channel="C1", thread_ts=parent, text="On it")
    # Replying to a reply's ts lands in the same thread, as in Slack.
    second = client.chat_postMessage(channel="C1", thread_ts=first["ts"], markdown_text="**done**")

    assert float(first["ts"]) < float(second["ts"])
    assert first["message"]["bot_id"] == "BBOT"
    assert first["message"]["parent_user_id"] == "U1"
    thread = fake.thread("C1", parent)
    assert [m["ts"] for m in thread] == [parent, first["ts"], second["ts"]]
    assert [visible_text(m) for m in thread] == ["<@UBOT> design a login page", "On it", "**done**"]
    assert thread[1]["thread_ts"] == parent and thread[2]["thread_ts"] == parent
    assert thread[2]["markdown_text"] == "**done**"
    assert fake.texts("C1", parent)[1:] == ["On it", "**done**"]
    assert fake.message("C1", parent)["reply_count"] == 2  # type: ignore[index]
    # The channel's top level shows only the parent.
    history = client.conversations_history(channel="C1")
    assert [m["ts"] for m in history["messages"]] == [parent]


def test_post_message_validation(fake: FakeSlack, client: WebClient) -> None:
    blocks = [{"type": "markdown", "text": "x" * MAX_MARKDOWN_CHARS}]
    client.chat_postMessage(channel="C1", blocks=blocks, text="fallback")

    too_long = [
        {"type": "markdown", "text": "x" * 7000},
        {"type": "markdown", "text": "y" * 5001},
    ]
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", blocks=too_long, text="fallback")
    assert excinfo.value.response["error"] == "msg_blocks_too_long"

    many = [{"type": "divider"}] * 51
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", blocks=many, text="fallback")
    assert excinfo.value.response["error"] == "invalid_blocks"

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="a", markdown_text="**a**")
    assert excinfo.value.response["error"] == "markdown_text_conflict"

    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("chat.postMessage", json={"channel": "C1"})
    assert excinfo.value.response["error"] == "no_text"

    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("chat.postMessage", json={"text": "hi"})
    assert excinfo.value.response["error"] == "channel_not_found"

    long = client.chat_postMessage(channel="C1", text="z" * 45_000)
    assert len(long["message"]["text"]) == 40_000
    assert len(fake.messages("C1")) == 2


def test_rate_limit_surfaces_as_429_with_retry_after(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("chat.postMessage", status=429, error="ratelimited", retry_after="7")
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="hi")
    response = excinfo.value.response
    assert response.status_code == 429
    assert response["error"] == "ratelimited"
    assert _header(response.headers, "Retry-After") == "7"
    assert fake.messages("C1") == []
    # The failure was consumed: the next call succeeds.
    client.chat_postMessage(channel="C1", text="hi")
    assert fake.texts("C1") == ["hi"]


def test_rate_limit_retry_handler_succeeds_after_waiting(fake: FakeSlack) -> None:
    retrying = WebClient(
        token="xoxb-test",
        base_url=fake.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    fake.fail_next("chat.postMessage", retry_after="0")  # int("0") + random() < 1 s of sleep
    started = time.monotonic()
    response = retrying.chat_postMessage(channel="C1", text="eventually")
    assert response["ok"] is True
    assert time.monotonic() - started < 2
    assert len(fake.calls_to("chat.postMessage")) == 2
    assert fake.texts("C1") == ["eventually"]


def test_other_injected_failures(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("conversations.info", status=500)
    with pytest.raises(SlackApiError) as excinfo:
        client.conversations_info(channel="C1")
    assert excinfo.value.response.status_code == 500

    fake.fail_next("conversations.info", error="channel_not_found", times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as excinfo:
            client.conversations_info(channel="C1")
        assert excinfo.value.response.status_code == 200
        assert excinfo.value.response["error"] == "channel_not_found"
    assert client.conversations_info(channel="C1")["channel"]["id"] == "C1"

    fake.fail_next(
        "assistant.threads.setStatus",
        error="missing_scope",
        extra={"needed": "assistant:write", "provided": "chat:write"},
    )
    with pytest.raises(SlackApiError) as excinfo:
        client.assistant_threads_setStatus(channel_id="D1", thread_ts="1.0", status="thinking")
    assert excinfo.value.response["needed"] == "assistant:write"
    assert fake.statuses == []


def test_held_answer_shows_the_message_before_the_caller_hears(
    fake: FakeSlack, client: WebClient
) -> None:
    fake.hold_next("chat.postMessage", 0.5)
    started = time.monotonic()
    posted: list[str] = []
    caller = threading.Thread(
        target=lambda: posted.append(client.chat_postMessage(channel="C1", text="hi")["ts"])
    )
    caller.start()
    fake.wait_for(lambda: fake.messages("C1"), message="the held message in the channel")
    assert posted == []  # in the channel, but its sender has not heard back yet
    caller.join(timeout=5)
    assert time.monotonic() - started >= 0.5
    assert posted == [fake.messages("C1")[0]["ts"]]
    started = time.monotonic()
    client.chat_postMessage(channel="C1", text="the next one is not held")
    assert time.monotonic() - started < 0.5


def test_files_upload_v2_into_thread(fake: FakeSlack, client: WebClient) -> None:
    parent = fake.add_user_message("C1", "write me a plan", user="U1")
    response = client.files_upload_v2(
        channel="C1",
        thread_ts=parent,
        content="# Plan\n\n1. do it\n",
        filename="plan.md",
        title="Implementation plan",
        initial_comment="Here is the plan",
    )
    assert response["file"]["title"] == "Implementation plan"

    [recorded] = fake.files
    assert recorded["content"] == b"# Plan\n\n1. do it\n"
    assert recorded["title"] == "Implementation plan"
    assert recorded["name"] == "plan.md"
    assert (recorded["channel"], recorded["thread_ts"]) == ("C1", parent)

    [_, shared] = fake.thread("C1", parent)
    assert shared["text"] == "Here is the plan"
    assert shared["files"][0]["id"] == recorded["id"]
    assert shared["files"][0]["title"] == "Implementation plan"
    assert [name for name, _ in fake.calls] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]


def test_conversations_replies_returns_seeded_messages(fake: FakeSlack, client: WebClient) -> None:
    parent = fake.add_user_message("C1", "first", user="U1")
    fake.add_user_message("C1", "second", user="U2", thread_ts=parent)
    client.chat_postMessage(
        channel="C1",
        thread_ts=parent,
        text="bot",
        metadata={"event_type": "agentdesk_run", "event_payload": {"run": 1}},
    )
    fake.add_user_message("C1", "fourth", user="U1", thread_ts=parent)

    replies = client.conversations_replies(channel="C1", ts=parent)
    messages = replies["messages"]
    assert [m["text"] for m in messages] == ["first", "second", "bot", "fourth"]
    assert messages[0]["reply_count"] == 3
    assert messages[1]["user"] == "U2" and messages[2]["bot_id"] == "BBOT"
    assert "metadata" not in messages[2]  # only with include_all_metadata
    assert replies["has_more"] is False

    with_meta = client.conversations_replies(channel="C1", ts=parent, include_all_metadata=True)
    assert with_meta["messages"][2]["metadata"]["event_payload"] == {"run": 1}

    page1 = client.conversations_replies(channel="C1", ts=parent, limit=2)
    assert [m["text"] for m in page1["messages"]] == ["first", "second"]
    assert page1["has_more"] is True
    cursor = page1["response_metadata"]["next_cursor"]
    page2 = client.conversations_replies(channel="C1", ts=parent, limit=2, cursor=cursor)
    assert [m["text"] for m in page2["messages"]] == ["bot", "fourth"]
    assert page2["has_more"] is False

    with pytest.raises(SlackApiError) as excinfo:
        client.conversations_replies(channel="C1", ts="1.000000")
    assert excinfo.value.response["error"] == "thread_not_found"


def test_users_info_timezone(client: WebClient) -> None:
    user = client.users_info(user="U1")["user"]
    assert user["tz"] == "Europe/London"
    assert user["tz_offset"] == 0
    assert user["real_name"] == "Ada Lovelace"
    assert user["is_bot"] is False
    assert client.users_info(user="UBOT")["user"]["is_bot"] is True
    with pytest.raises(SlackApiError) as excinfo:
        client.users_info(user="UNKNOWN")
    assert excinfo.value.response["error"] == "user_not_found"


def test_update_delete_ephemeral_permalink(fake: FakeSlack, client: WebClient) -> None:
    parent = fake.add_user_message("C1", "hi", user="U1")
    posted = client.chat_postMessage(channel="C1", thread_ts=parent, text="thinking…")
    updated = client.chat_update(channel="C1", ts=posted["ts"], text="answer")
    assert updated["message"]["edited"]["user"] == "UBOT"
    assert fake.texts("C1", parent) == ["hi", "answer"]

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel="C1", ts=parent, text="hijack")
    assert excinfo.value.response["error"] == "cant_update_message"

    link = client.chat_getPermalink(channel="C1", message_ts=posted["ts"])["permalink"]
    assert link.endswith(f"/archives/C1/p{posted['ts'].replace('.', '')}?thread_ts={parent}&cid=C1")

    client.chat_delete(channel="C1", ts=posted["ts"])
    assert fake.texts("C1", parent) == ["hi"]
    assert fake.message("C1", parent)["reply_count"] == 0  # type: ignore[index]
    assert fake.deleted[0]["text"] == "answer"

    eph = client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert eph["message_ts"]
    assert fake.ephemerals("C1")[0]["text"] == "only you"
    assert fake.messages("C1")[-1]["text"] == "hi"


def test_reactions(fake: FakeSlack, client: WebClient) -> None:
    ts = fake.add_user_message("C1", "hi", user="U1")
    client.reactions_add(channel="C1", timestamp=ts, name="eyes")
    with pytest.raises(SlackApiError) as excinfo:
        client.reactions_add(channel="C1", timestamp=ts, name="eyes")
    assert excinfo.value.response["error"] == "already_reacted"
    assert fake.reactions == [{"channel": "C1", "ts": ts, "name": "eyes", "user": "UBOT"}]
    assert fake.message("C1", ts)["reactions"][0]["count"] == 1  # type: ignore[index]
    client.reactions_remove(channel="C1", timestamp=ts, name="eyes")
    assert fake.reactions == []
    with pytest.raises(SlackApiError) as excinfo:
        client.reactions_remove(channel="C1", timestamp=ts, name="eyes")
    assert excinfo.value.response["error"] == "no_reaction"


def test_assistant_status_recorded_and_cleared_by_reply(fake: FakeSlack, client: WebClient) -> None:
    parent = fake.add_user_message("D1", "help", user="U1")
    client.assistant_threads_setStatus(
        channel_id="D1",
        thread_ts=parent,
        status="is thinking…",
        loading_messages=["Reading", "Writing"],
    )
    assert fake.statuses[0]["loading_messages"] == ["Reading", "Writing"]
    assert fake.current_status("D1", parent) == "is thinking…"
    client.chat_postMessage(channel="D1", thread_ts=parent, text="done")
    assert fake.current_status("D1", parent) is None
    assert client.conversations_info(channel="D1")["channel"]["is_im"] is True


def test_chat_stream_reads_chunks(fake: FakeSlack, client: WebClient) -> None:
    parent = fake.add_user_message("C1", "go", user="U1")
    stream = client.chat_stream(
        channel="C1", thread_ts=parent, recipient_team_id="T0001", recipient_user_id="U1"
    )
    stream.append(markdown_text="Hello ")
    stream.append(markdown_text="**world**")
    stream.stop()
    [_, reply] = fake.thread("C1", parent)
    assert reply["markdown_text"] == "Hello **world**"
    assert reply["stream_state"] == "completed"


def test_channel_stream_needs_its_recipient(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as refused:
        client.chat_startStream(channel="C1", thread_ts="1700000000.000100", markdown_text="hi")
    assert refused.value.response["error"] == "invalid_arguments"
    started = client.chat_startStream(
        channel="D1", thread_ts="1700000000.000100", markdown_text="x"
    )
    assert started["ts"]


def test_stream_keeps_task_chunks_and_one_markdown_budget(
    fake: FakeSlack, client: WebClient
) -> None:
    parent = fake.add_user_message("C1", "go", user="U1")
    stream = client.chat_stream(
        channel="C1",
        thread_ts=parent,
        recipient_team_id="T0001",
        recipient_user_id="U1",
        task_display_mode="plan",
    )
    stream.append(chunks=[TaskUpdateChunk(id="t1", title="reading app.py", status="in_progress")])
    stream.append(markdown_text="a" * (MAX_MARKDOWN_CHARS - 10))
    stream.append(markdown_text="b" * 6)  # buffered: under the 256-character buffer
    with pytest.raises(SlackApiError) as refused:
        stream.append(markdown_text="c" * 300)  # the message's 12,000 characters are used up
    assert refused.value.response["error"] == "msg_too_long"
    [_, reply] = fake.thread("C1", parent)
    assert reply["chunks"][0] == {
        "type": "task_update",
        "id": "t1",
        "title": "reading app.py",
        "status": "in_progress",
    }
    assert [c["type"] for c in fake.calls_to("chat.startStream")[0]["chunks"]] == ["task_update"]


def test_stream_expires_and_can_then_be_edited(client: WebClient) -> None:
    now = [1000.0]
    with FakeSlack(clock=lambda: now[0]) as fake:
        client = WebClient(token="xoxb-test", base_url=fake.api_url)
        parent = fake.add_user_message("D1", "go", user="U1")
        started = client.chat_startStream(channel="D1", thread_ts=parent, markdown_text="Hel")
        client.chat_appendStream(channel="D1", ts=started["ts"], markdown_text="lo")
        now[0] += 301  # Slack ends streams after about five minutes
        with pytest.raises(SlackApiError) as late:
            client.chat_appendStream(channel="D1", ts=started["ts"], markdown_text="!")
        assert late.value.response["error"] == "message_not_in_streaming_state"
        with pytest.raises(SlackApiError):
            client.chat_stopStream(channel="D1", ts=started["ts"])
        client.chat_update(channel="D1", ts=started["ts"], text="Hello!", blocks=[])
        [_, reply] = fake.thread("D1", parent)
        assert visible_text(reply) == "Hello!"
        assert not reply["markdown_text"]


def test_response_url_records_posts(fake: FakeSlack) -> None:
    url = fake.response_url("cmd", channel="C1")
    WebhookClient(url).send(text="working on it")
    WebhookClient(url).send(text="**Design ready**", response_type="in_channel")
    assert [r["text"] for r in fake.responses("cmd")] == ["working on it", "**Design ready**"]
    assert fake.ephemerals("C1")[0]["text"] == "working on it"
    assert fake.texts("C1") == ["**Design ready**"]


def test_wait_for(fake: FakeSlack, client: WebClient) -> None:
    client.chat_postMessage(channel="C1", text="hello")
    assert fake.wait_for_messages("C1")[0]["text"] == "hello"
    assert fake.wait_for(lambda: fake.calls_to("chat.postMessage"), timeout=1)
    with pytest.raises(AssertionError, match=r"(?s)never.*chat\.postMessage.*hello"):
        fake.wait_for(lambda: False, timeout=0.1, message="never")


def test_bolt_app_constructs_against_fake(fake: FakeSlack) -> None:
    app = App(
        client=WebClient(token="xoxb-test", base_url=fake.api_url),
        signing_secret="s",
    )
    assert app.client.base_url == fake.api_url
    assert [name for name, _ in fake.calls] == ["auth.test"]
    assert fake.errors == []


def test_oauth_install_gives_a_workspace_its_own_token(fake: FakeSlack) -> None:
    anonymous = WebClient(base_url=fake.api_url)
    code = fake.grant_install("T0002", team_name="Second", installer="U9")
    with pytest.raises(SlackApiError) as wrong:
        anonymous.oauth_v2_access(client_id=fake.client_id, client_secret="nope", code=code)
    assert wrong.value.response["error"] == "bad_client_secret"
    granted = anonymous.oauth_v2_access(
        client_id=fake.client_id, client_secret=fake.client_secret, code=code
    )
    assert granted["token_type"] == "bot"
    assert granted["team"] == {"id": "T0002", "name": "Second"}
    assert granted["authed_user"] == {"id": "U9"}
    assert granted["bot_user_id"] == "UBOTT0002"
    assert granted["is_enterprise_install"] is False
    with pytest.raises(SlackApiError) as reused:  # codes are single use
        anonymous.oauth_v2_access(
            client_id=fake.client_id, client_secret=fake.client_secret, code=code
        )
    assert reused.value.response["error"] == "invalid_code"

    second = WebClient(token=granted["access_token"], base_url=fake.api_url)
    identity = second.auth_test()
    assert (identity["team_id"], identity["bot_id"]) == ("T0002", "BBOTT0002")
    posted = second.chat_postMessage(channel="C2", text="hello")
    assert posted["message"]["bot_id"] == "BBOTT0002"
    assert fake.tokens_used("chat.postMessage") == [granted["access_token"]]
    assert WebClient(token="xoxb-test", base_url=fake.api_url).auth_test()["team_id"] == "T0001"


def test_views_publish_and_agent_sessions(fake: FakeSlack, client: WebClient) -> None:
    published = client.views_publish(
        user_id="U1", view={"type": "home", "blocks": [{"type": "divider"}]}
    )
    assert published["view"]["type"] == "home"
    assert fake.home_view("U1")["blocks"] == [{"type": "divider"}]  # type: ignore[index]
    with pytest.raises(SlackApiError):
        client.views_publish(user_id="U1", view={"type": "home", "blocks": [{}] * 101})
    client.agents_sessions_setStatus(
        channel_id="C1", thread_ts="1.000001", status="processing", title="Add SSO"
    )
    client.agents_sessions_rename(channel_id="C1", thread_ts="1.000001", title="SSO with Okta")
    client.agents_sessions_setStatus(channel_id="C1", thread_ts="1.000001", status="active")
    assert fake.agent_session("C1", "1.000001") == {
        "status": "active",
        "title": "SSO with Okta",
        "history": ["processing", "active"],
    }
    with pytest.raises(SlackApiError) as bad:
        client.agents_sessions_setStatus(channel_id="C1", thread_ts="1.000001", status="busy")
    assert bad.value.response["error"] == "invalid_arguments"


def test_default_shapes_leave_optional_fields_out() -> None:
    """Slack guarantees little beyond `ok`: what its response types mark optional is absent
    unless a test asks for it, so code reading such a field must cope without it."""
    with FakeSlack() as fake:
        client = WebClient(token="xoxb-test", base_url=fake.api_url)
        fake.add_user("U2")
        user = client.users_info(user="U2")["user"]
        assert {"id", "team_id", "name", "deleted", "is_bot", "profile"} <= set(user)
        for optional in ("real_name", "tz", "tz_label", "tz_offset"):
            assert optional not in user
        profile = user["profile"]
        for optional in (
            "real_name",
            "real_name_normalized",
            "display_name",
            "display_name_normalized",
            "email",
            "bot_id",
        ):
            assert optional not in profile
        assert profile["image_48"]  # the only profile fields users.info promises

        identity = client.auth_test()
        assert "app_id" not in identity.data and "app_name" not in identity.data

        parent = fake.add_user_message("C1", "hello", user="U2")
        posted = client.chat_postMessage(channel="C1", thread_ts=parent, text="hi")
        assert "team" not in posted["message"]
        replies = client.conversations_replies(channel="C1", ts=parent)
        assert all("team" not in m for m in replies["messages"])
        assert "response_metadata" not in replies.data  # no next page
        history = client.conversations_history(channel="C1")
        assert all("team" not in m for m in history["messages"])
        assert "response_metadata" not in history.data
        event = fake.message_event("C1", parent)
        assert "bot_id" not in event  # a person's message

    with FakeSlack(
        users={
            "U2": {
                "real_name": "Ada Lovelace",
                "display_name": "ada",
                "email": "ada@example.com",
                "tz": "Europe/London",
            }
        },
        auth_test_names_app=True,
        messages_name_team=True,
    ) as configured:
        client = WebClient(token="xoxb-test", base_url=configured.api_url)
        user = client.users_info(user="U2")["user"]
        assert (user["real_name"], user["tz"], user["tz_label"]) == (
            "Ada Lovelace",
            "Europe/London",
            "GMT",
        )
        assert user["tz_offset"] == 0
        assert user["profile"]["display_name"] == "ada"
        assert user["profile"]["email"] == "ada@example.com"
        assert client.auth_test()["app_id"] == configured.app_id
        posted = client.chat_postMessage(channel="C1", text="hi")
        assert posted["message"]["team"] == configured.team_id
        client.chat_postMessage(channel="C1", text="again")
        page = client.conversations_history(channel="C1", limit=1)
        assert page["response_metadata"]["next_cursor"]


def test_usergroups_list_and_their_users() -> None:
    with FakeSlack(scopes=["usergroups:read"]) as fake:
        client = WebClient(token="xoxb-test", base_url=fake.api_url)
        fake.add_usergroup("S1", "backend", "Backend team", ["U1", "U2"])
        fake.add_usergroup("S2", "old-team", "Old team", ["U3"], disabled=True)

        [group] = client.usergroups_list()["usergroups"]
        assert (group["id"], group["team_id"], group["handle"], group["name"]) == (
            "S1",
            "T0001",
            "backend",
            "Backend team",
        )
        assert "users" not in group and "user_count" not in group

        listed = client.usergroups_list(include_users=True, include_count=True)["usergroups"]
        assert [(g["id"], g["users"], g["user_count"]) for g in listed] == [("S1", ["U1", "U2"], 2)]
        with_disabled = client.usergroups_list(include_disabled=True)["usergroups"]
        assert [g["id"] for g in with_disabled] == ["S1", "S2"]
        assert with_disabled[1]["date_delete"] > 0

        assert client.usergroups_users_list(usergroup="S1")["users"] == ["U1", "U2"]
        for unknown in ("S404", "S2"):
            with pytest.raises(SlackApiError) as missing:
                client.usergroups_users_list(usergroup=unknown)
            assert missing.value.response["error"] == "no_such_subteam"
        assert client.usergroups_users_list(usergroup="S2", include_disabled=True)["users"] == [
            "U3"
        ]

    with FakeSlack(scopes=["users:read"]) as narrow:
        client = WebClient(token="xoxb-test", base_url=narrow.api_url)
        calls: list[Callable[[], object]] = [
            client.usergroups_list,
            lambda: client.usergroups_users_list(usergroup="S1"),
        ]
        for call in calls:
            with pytest.raises(SlackApiError) as refused:
                call()
            assert refused.value.response["error"] == "missing_scope"
            assert refused.value.response["needed"] == "usergroups:read"
