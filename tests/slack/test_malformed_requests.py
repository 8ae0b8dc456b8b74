"""Garbage at the door: forged or malformed requests get a 4xx (or a quiet 200) and touch
nothing — no stored request, no message, no model call, never a 500."""

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from bot.store.models import Conversation, InboundEvent
from tests.slack.conftest import BOT_USER, CHANNEL, SlackHarness

_SETTINGS = settings(
    max_examples=60,
    derandomize=True,  # the same examples on every run: CI never meets a new one by chance
    database=None,  # nor does a local run replay examples CI would not see
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def _nothing_happened(harness: SlackHarness) -> None:
    harness.wait_idle()
    with Session(harness.desk.engine) as session:
        assert session.exec(select(Conversation)).all() == []
        stored = session.exec(select(InboundEvent)).all()
    assert all(row.kind == "event" for row in stored)  # only well-formed events, ignored later
    assert harness.reply_posts() == []
    assert harness.anthropic.message_requests == []


def _event_with(harness: SlackHarness, **changes: Any) -> str:
    event = {
        "type": "app_mention",
        "user": "U1",
        "text": f"<@{BOT_USER}> add SSO",
        "ts": "1700000000.000100",
        "channel": CHANNEL,
    }
    event.update(changes)
    return json.dumps(harness.envelope(event))


@given(event=_json)
@_SETTINGS
def test_any_event_shape_gets_an_answer_that_is_not_a_500(
    harness: SlackHarness, event: Any
) -> None:
    envelope = harness.envelope({"type": "app_mention", "channel": CHANNEL})
    envelope["event"] = event
    response = harness.post(json.dumps(envelope), content_type="application/json")
    assert response.status in (200, 400), response


@given(user=_json, text=_json, ts=_json, channel=_json)
@_SETTINGS
def test_mentions_with_wrongly_typed_fields_are_refused(
    harness: SlackHarness, user: Any, text: Any, ts: Any, channel: Any
) -> None:
    body = _event_with(harness, user=user, text=text, ts=ts, channel=channel)
    response = harness.post(body, content_type="application/json")
    assert response.status in (200, 400), response
    if not (isinstance(user, str) and isinstance(text, str) and isinstance(ts, str)):
        assert response.status == 400


@given(
    form=st.dictionaries(
        st.sampled_from(["command", "user_id", "channel_id", "text", "team_id"]),
        st.text(max_size=20),
        max_size=6,
    )
)
@_SETTINGS
def test_slash_commands_missing_or_garbling_fields_touch_nothing(
    harness: SlackHarness, form: dict[str, str]
) -> None:
    # Never a trigger_id: a form with every field well-formed is a real request, not garbage.
    response = harness.post(urlencode(form), content_type="application/x-www-form-urlencoded")
    assert response.status in (200, 400, 404), response


@given(payload=_json)
@_SETTINGS
def test_any_interactivity_payload_gets_an_answer_that_is_not_a_500(
    harness: SlackHarness, payload: Any
) -> None:
    body = urlencode({"payload": json.dumps(payload)})
    response = harness.post(body, content_type="application/x-www-form-urlencoded")
    assert response.status in (200, 400, 404), response


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{not json", "application/json"),
        ('{"type": "event_callback", "event_id": "Ev1", "event": null}', "application/json"),
        ('{"type": "event_callback", "event_id": "Ev1", "event": []}', "application/json"),
        ("[" * 10_000 + "]" * 10_000, "application/json"),
        (
            '{"type": "event_callback", "event_id": "Ev1", "n": ' + "9" * 5000 + "}",
            "application/json",
        ),
        ("payload=%7Bnot%20json", "application/x-www-form-urlencoded"),
        ("payload=" + "%5B" * 5000, "application/x-www-form-urlencoded"),
    ],
)
def test_bodies_that_do_not_parse_get_a_400(
    harness: SlackHarness, body: str, content_type: str
) -> None:
    assert harness.post(body, content_type=content_type).status == 400
    _nothing_happened(harness)


def test_signed_garbage_in_fields_is_never_acted_on(harness: SlackHarness) -> None:
    for changes in (
        {"text": 42},
        {"user": {"id": "U1"}},
        {"ts": "not-a-ts"},
        {"channel": None},
    ):
        response = harness.post(_event_with(harness, **changes), content_type="application/json")
        assert response.status == 400, changes
    command = {"command": "/feature", "text": "add SSO", "channel_id": CHANNEL, "trigger_id": "t1"}
    response = harness.post(urlencode(command), content_type="application/x-www-form-urlencoded")
    assert response.status == 400  # no user_id: never "Feature request from <@>"
    _nothing_happened(harness)


def test_unsigned_and_badly_stamped_garbage_gets_a_401(harness: SlackHarness) -> None:
    for body in ("{not json", "[" * 10_000, "payload=%7B"):
        assert harness.post(body, content_type="application/json", signed=False).status == 401
    stamped = harness.post(
        _event_with(harness),
        content_type="application/json",
        headers={"X-Slack-Request-Timestamp": "soon"},
    )
    assert stamped.status == 401
    _nothing_happened(harness)


# Every kind of request the door accepts, each with its fields filled with garbage: an
# event envelope, a slash command's form, and each interactivity payload Bolt reads.
_KINDS = {
    "event_callback": {"event_id": "Ev1", "team_id": "T0001", "api_app_id": "A0001"},
    "block_actions": {"trigger_id": "1.2.3"},
    "view_submission": {"trigger_id": "1.2.3"},
    "view_closed": {},
    "shortcut": {"callback_id": "c", "trigger_id": "1.2.3"},
    "message_action": {"callback_id": "c", "trigger_id": "1.2.3"},
    "block_suggestion": {"action_id": "a"},
}
_FIELDS = ("user", "team", "view", "authorizations", "enterprise", "channel", "event", "actions")


@given(
    kind=st.sampled_from(sorted(_KINDS)),
    garbage=st.dictionaries(st.sampled_from(_FIELDS), _json, min_size=1, max_size=4),
)
@settings(_SETTINGS, max_examples=200)
def test_every_kind_with_garbage_fields_gets_no_500(
    harness: SlackHarness, kind: str, garbage: dict[str, Any]
) -> None:
    body = {"type": kind, **_KINDS[kind], **garbage}
    if kind == "event_callback":
        response = harness.post(json.dumps(body), content_type="application/json")
    else:
        form = urlencode({"payload": json.dumps(body)})
        response = harness.post(form, content_type="application/x-www-form-urlencoded")
    assert response.status in (200, 400, 404), (response, body)


@pytest.mark.parametrize(
    "body",
    [
        {"authorizations": "T0001"},
        {"authorizations": [None]},
        {"authorizations": [{"team_id": 7, "user_id": []}]},
    ],
)
def test_an_envelope_with_garbled_authorizations_is_refused(
    harness: SlackHarness, body: dict[str, Any]
) -> None:
    envelope = harness.envelope(
        {"type": "app_mention", "user": "U1", "text": "hi", "ts": "1.2", "channel": CHANNEL}
    )
    envelope.update(body)
    response = harness.post(json.dumps(envelope), content_type="application/json")
    assert response.status == 400, response
    _nothing_happened(harness)


@pytest.mark.parametrize("kind", ["view_submission", "view_closed", "block_suggestion"])
@pytest.mark.parametrize(
    "garbage",
    [
        {"view": "v"},
        {"view": {"team_id": 5}},
        {"view": None},
        {"user": "U1"},
        {"user": None},
        {"team": ["T"]},
        {"authorizations": False},
        {"authorizations": ["T"]},
        {"enterprise": "E1", "authorizations": [{}]},
    ],
)
def test_view_payloads_with_garbage_get_no_500(
    harness: SlackHarness, kind: str, garbage: dict[str, Any]
) -> None:
    payload = {"type": kind, "user": {"id": "U1"}, "team": {"id": "T0001"}, **garbage}
    form = urlencode({"payload": json.dumps(payload)})
    response = harness.post(form, content_type="application/x-www-form-urlencoded")
    assert response.status in (200, 400, 404), response
    _nothing_happened(harness)
