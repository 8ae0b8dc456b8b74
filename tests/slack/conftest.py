"""The real app over HTTP (uvicorn on loopback) against the fake Slack and Anthropic servers.

`SlackHarness` sends what Slack would send - signed Events API envelopes, slash commands and
`block_actions` payloads - to `POST /slack/events`, and reads what the fake workspace shows.
"""

import copy
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlencode

import pytest
import uvicorn
from slack_sdk.signature import SignatureVerifier
from sqlmodel import Session, select

from bot.config import Settings
from bot.engine.desk import Desk
from bot.runtime.build import build_desk
from bot.runtime.http import build_http_app
from bot.slack.app import SlackApp, build_slack_app
from bot.store import conversation_records, pending_work, posting, queue
from bot.store.models import Conversation, Message, MessageKind
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.slack_server import FakeSlack, visible_text
from tests.support import make_settings

P = ParamSpec("P")
T = TypeVar("T")

SECRET = "secret"
TEAM = "T0001"
APP_ID = "A0001"
BOT_USER = "UBOT"
BOT_ID = "BBOT"
ALICE = "U1"
BOB = "U2"
OTHER_BOT_USER = "U0THERBOT"
OTHER_BOT_ID = "B0THER"

CHANNEL = "C0DESK"  # default agent: backend-feature-developer
OPEN_CHANNEL = "C0OPEN"  # no default agent: the router decides
DM = "D0ALICE"

BACKEND = "backend-feature-developer"
FRONTEND = "frontend-feature-developer"

ACK_BUDGET_SECONDS = 3.0  # Slack's limit for acknowledging any request


def model_down(fake: FakeAnthropic, attempts: int = 3) -> None:
    """Every attempt of one turn (the first try and the SDK's retries) gets a 500."""
    for _ in range(attempts):
        fake.reply_error(500, "api_error", "Internal server error", {"retry-after-ms": "1"})


class TrackingExecutor(ThreadPoolExecutor):
    """Bolt's listener pool, counting the listeners (and lazy listeners) still running."""

    def __init__(self, max_workers: int | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(max_workers, *args, **kwargs)
        self._count_lock = threading.Lock()
        self.in_flight = 0

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> "Future[T]":
        with self._count_lock:
            self.in_flight += 1

        def tracked() -> T:
            try:
                return fn(*args, **kwargs)
            finally:
                with self._count_lock:
                    self.in_flight -= 1

        return super().submit(tracked)


@dataclass(frozen=True)
class HttpResponse:
    """What our server answered Slack, and how fast."""

    status: int
    body: str
    headers: dict[str, str]
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


class SlackSide:
    """Plays Slack's side against any served app: signed requests in, the fake workspace out."""

    def __init__(self, *, base_url: str, slack: FakeSlack, anthropic: FakeAnthropic) -> None:
        self.base_url = base_url
        self.slack = slack
        self.anthropic = anthropic
        self.verifier = SignatureVerifier(SECRET)
        self._ids = itertools.count(1)
        self.sent: list[tuple[str, HttpResponse]] = []

    # Raw HTTP ---------------------------------------------------------------------------------

    def post(
        self,
        body: str,
        *,
        content_type: str,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
        signed: bool = True,
    ) -> HttpResponse:
        """POST to /slack/events, signed like Slack unless told otherwise."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        all_headers = {"Content-Type": content_type, "User-Agent": "Slackbot 1.0"}
        if signed:
            all_headers["X-Slack-Request-Timestamp"] = stamp
            computed = self.verifier.generate_signature(timestamp=stamp, body=body)
            all_headers["X-Slack-Signature"] = signature or str(computed)
        all_headers.update(headers or {})
        response = self._request("POST", "/slack/events", body.encode(), all_headers)
        self.sent.append((body, response))
        assert response.seconds < ACK_BUDGET_SECONDS, f"ack took {response.seconds:.2f}s"
        return response

    def get(self, path: str, *, headers: dict[str, str] | None = None) -> HttpResponse:
        return self._request("GET", path, None, headers or {})

    def _request(
        self, method: str, path: str, data: bytes | None, headers: dict[str, str]
    ) -> HttpResponse:
        request = urllib.request.Request(  # noqa: S310 (always http://127.0.0.1)
            self.base_url + path, data=data, headers=headers, method=method
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
                status, raw, got = reply.status, reply.read(), dict(reply.headers.items())
        except urllib.error.HTTPError as error:
            status, raw, got = error.code, error.read(), dict(error.headers.items())
        return HttpResponse(
            status=status,
            body=raw.decode("utf-8"),
            headers={k.lower(): v for k, v in got.items()},
            seconds=time.monotonic() - started,
        )

    # Events -----------------------------------------------------------------------------------

    def envelope(self, event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        """An event_callback envelope as Slack sends it."""
        return {
            "token": "legacy-verification-token",
            "team_id": TEAM,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._ids):08d}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": TEAM,
                    "user_id": BOT_USER,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-event-context-{next(self._ids)}",
        }

    def send_envelope(
        self, envelope: dict[str, Any], *, retry_num: int | None = None, reason: str = ""
    ) -> HttpResponse:
        headers = {}
        if retry_num is not None:
            headers = {
                "X-Slack-Retry-Num": str(retry_num),
                "X-Slack-Retry-Reason": reason or "http_timeout",
            }
        body = json.dumps(envelope, ensure_ascii=False)  # Slack sends raw UTF-8
        return self.post(body, content_type="application/json", headers=headers)

    def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        reason: str = "",
    ) -> HttpResponse:
        """Deliver one event; Slack must get a 200."""
        response = self.send_envelope(
            self.envelope(event, event_id=event_id), retry_num=retry_num, reason=reason
        )
        assert response.status == 200, response
        return response

    def events_for(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """The events Slack sends for a stored message: `message`, plus `app_mention` when
        the message mentions the bot outside a DM (Slack sends both, with different ids)."""
        events = [self.slack.message_event(channel, ts)]
        text = events[0].get("text") or ""
        if f"<@{BOT_USER}>" in text and not channel.startswith("D"):
            events.append(self.slack.message_event(channel, ts, event_type="app_mention"))
        return events

    def say(
        self,
        text: str,
        *,
        user: str = ALICE,
        channel: str = CHANNEL,
        thread_ts: str | None = None,
    ) -> str:
        """A person writes in Slack; the app gets the events. Returns the message's ts."""
        ts = self.slack.add_user_message(channel, text, user, thread_ts)
        for event in self.events_for(channel, ts):
            self.event(event)
        return ts

    def mention(self, text: str, **kwargs: Any) -> str:
        """`@agentdesk text` in a channel (or thread); returns its ts (the thread's, if new)."""
        return self.say(f"<@{BOT_USER}> {text}", **kwargs)

    def edit(self, channel: str, ts: str, new_text: str, *, user: str = ALICE) -> HttpResponse:
        """A person edits a message: Slack sends `message_changed`."""
        original = self.slack.message_event(channel, ts)
        edited_at = f"{time.time():.6f}"
        message = {
            "type": "message",
            "user": user,
            "text": new_text,
            "ts": ts,
            "edited": {"user": user, "ts": edited_at},
            "team": TEAM,
        }
        if original.get("thread_ts"):
            message["thread_ts"] = original["thread_ts"]
        event = {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "channel": channel,
            "channel_type": original.get("channel_type", "channel"),
            "ts": edited_at,
            "event_ts": edited_at,
            "message": message,
            "previous_message": {k: v for k, v in original.items() if k != "channel"},
        }
        return self.event(event)

    # Slash commands ---------------------------------------------------------------------------

    def command(
        self,
        text: str,
        *,
        user: str = ALICE,
        channel: str = CHANNEL,
        response_name: str | None = None,
        **overrides: str,
    ) -> HttpResponse:
        """`/feature text` as Slack POSTs it (form-encoded)."""
        name = response_name or f"cmd{next(self._ids)}"
        form = {
            "token": "legacy-verification-token",
            "team_id": TEAM,
            "team_domain": "test-workspace",
            "channel_id": channel,
            "channel_name": channel.lower(),
            "user_id": user,
            "user_name": user.lower(),
            "command": "/feature",
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.slack.response_url(name, channel=channel, user=user),
            "trigger_id": f"trigger.{next(self._ids)}",
            **overrides,
        }
        return self.post(urlencode(form), content_type="application/x-www-form-urlencoded")

    # Interactivity ----------------------------------------------------------------------------

    def click(
        self,
        message: dict[str, Any],
        label: str,
        *,
        user: str = ALICE,
        response_name: str | None = None,
    ) -> HttpResponse:
        """Press the button labelled `label` on a message the bot posted (a native feedback
        button too: Slack then sends the `feedback_buttons` element with the pressed value)."""
        block, element = _find_element(
            message, lambda e: _label(e) == label or _feedback_button(e, label) is not None
        )
        pressed = _feedback_button(element, label)
        if pressed is not None:
            action = {
                "type": "feedback_buttons",
                "action_id": element["action_id"],
                "block_id": block.get("block_id", ""),
                "value": pressed["value"],
                "action_ts": f"{time.time():.6f}",
            }
            return self._act(message, action, user=user, response_name=response_name)
        action = {
            "type": "button",
            "action_id": element["action_id"],
            "block_id": block.get("block_id", ""),
            "text": element["text"],
            "value": element.get("value", ""),
            "action_ts": f"{time.time():.6f}",
        }
        return self._act(message, action, user=user, response_name=response_name)

    def select(
        self,
        message: dict[str, Any],
        option_label: str,
        *,
        user: str = ALICE,
    ) -> HttpResponse:
        """Pick `option_label` in the message's static_select menu."""
        block, element = _find_element(message, lambda e: e.get("type") == "static_select")
        option = next(o for o in element["options"] if o["text"]["text"] == option_label)
        action = {
            "type": "static_select",
            "action_id": element["action_id"],
            "block_id": block.get("block_id", ""),
            "selected_option": option,
            "placeholder": element.get("placeholder"),
            "action_ts": f"{time.time():.6f}",
        }
        return self._act(message, action, user=user)

    def _act(
        self,
        message: dict[str, Any],
        action: dict[str, Any],
        *,
        user: str,
        response_name: str | None = None,
    ) -> HttpResponse:
        channel = message["channel"]
        name = response_name or f"act{next(self._ids)}"
        shown = {
            k: copy.deepcopy(v)
            for k, v in message.items()
            if v is not None and k not in ("channel", "markdown_text", "files")
        }
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
            "api_app_id": APP_ID,
            "token": "legacy-verification-token",
            "container": {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": channel,
                "is_ephemeral": False,
                "thread_ts": message.get("thread_ts"),
            },
            "trigger_id": f"trigger.{next(self._ids)}",
            "team": {"id": TEAM, "domain": "test-workspace"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": channel.lower()},
            "message": shown,
            "state": {"values": {}},
            "response_url": self.slack.response_url(name, channel=channel, user=user),
            "actions": [action],
        }
        response = self.post(
            urlencode({"payload": json.dumps(payload)}),
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status == 200, response
        return response

    # Reading the workspace --------------------------------------------------------------------

    def bot_messages(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The bot's replies in a thread (not its root, not the requirement card), oldest
        first."""
        return [
            m
            for m in self.slack.thread(channel, thread_ts)
            if m.get("bot_id") == BOT_ID and m["ts"] != thread_ts and not is_card(m)
        ]

    def card(self, channel: str, thread_ts: str) -> dict[str, Any] | None:
        """The thread's requirement card as Slack shows it now, if there is one."""
        cards = [m for m in self.slack.thread(channel, thread_ts) if is_card(m)]
        assert len(cards) <= 1, "the card is edited in place, never posted twice"
        return cards[0] if cards else None

    def wait_for_card(
        self, channel: str, thread_ts: str, needle: str = "", timeout: float = 10.0
    ) -> dict[str, Any]:
        """Wait until the thread's card shows `needle`; return it."""

        def found() -> dict[str, Any] | None:
            card = self.card(channel, thread_ts)
            return card if card is not None and needle in visible_text(card) else None

        return self.slack.wait_for(found, timeout=timeout, message=f"a card showing {needle!r}")

    def bot_texts(self, channel: str, thread_ts: str) -> list[str]:
        return [visible_text(m) for m in self.bot_messages(channel, thread_ts)]

    def wait_for_bot(
        self, channel: str, thread_ts: str, count: int = 1, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Wait until the thread shows at least `count` bot messages; return them all."""

        def enough() -> list[dict[str, Any]] | None:
            found = self.bot_messages(channel, thread_ts)
            return found if len(found) >= count else None

        return self.slack.wait_for(
            enough, timeout=timeout, message=f"{count} bot message(s) in {channel}/{thread_ts}"
        )

    def wait_for_text(
        self, channel: str, thread_ts: str, needle: str, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Wait until a bot message in the thread shows `needle`; return that message."""

        def found() -> dict[str, Any] | None:
            return next(
                (m for m in self.bot_messages(channel, thread_ts) if needle in visible_text(m)),
                None,
            )

        return self.slack.wait_for(found, timeout=timeout, message=f"{needle!r} in the thread")


def sign_off(harness: "SlackSide", channel: str, thread_ts: str, *, user: str = ALICE) -> None:
    """Press Approve on the thread's card once it is ready for sign-off, and wait for it."""
    card = harness.wait_for_card(channel, thread_ts, "ready for sign-off")
    harness.click(card, "Approve", user=user)
    harness.wait_for_card(channel, thread_ts, "Approved by")


class SlackHarness(SlackSide):
    """Plays Slack's side of the conversation with an app served in this test process."""

    def __init__(
        self,
        *,
        base_url: str,
        slack: FakeSlack,
        anthropic: FakeAnthropic,
        desk: Desk,
        app: SlackApp,
        executor: TrackingExecutor,
    ) -> None:
        super().__init__(base_url=base_url, slack=slack, anthropic=anthropic)
        self.desk = desk
        self.app = app
        self.executor = executor

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until no listener runs, no turn is queued or running, and nothing awaits
        posting, twice in a row - only then may a test count what the channel shows."""
        streak = 0

        def idle() -> bool:
            nonlocal streak
            if self.executor.in_flight == 0 and self._desk_idle():
                streak += 1
            else:
                streak = 0
            return streak >= 2

        self.slack.wait_for(idle, timeout=timeout, message="the app to go idle")

    def _desk_idle(self) -> bool:
        with Session(self.desk.engine) as session:
            return (
                pending_work.unfinished_work_count(session=session) == 0
                and queue.unfinished_inbound_count(session=session) == 0
                and not posting.outbox(session=session)
            )

    # Reading the store ------------------------------------------------------------------------

    def conversations(self) -> list[Conversation]:
        with Session(self.desk.engine, expire_on_commit=False) as session:
            return list(session.exec(select(Conversation)).all())

    def stored_messages(self) -> list[Message]:
        """Every stored message but the requirement cards (see `card`)."""
        with Session(self.desk.engine, expire_on_commit=False) as session:
            return list(session.exec(select(Message).where(Message.kind != MessageKind.CARD)).all())

    def reply_posts(self) -> list[dict[str, Any]]:
        """The chat.postMessage calls made, the requirement cards' first posts aside."""
        return [
            call
            for call in self.slack.calls_to("chat.postMessage")
            if not str(call.get("text", "")).startswith("Requirement card:")
        ]

    def conversation_of(self, channel: str, thread_ts: str) -> Conversation:
        """The stored row of a thread's conversation."""
        with Session(self.desk.engine, expire_on_commit=False) as session:
            conversation = conversation_records.find_conversation(
                session=session, team_id=TEAM, channel_id=channel, thread_ts=thread_ts
            )
        assert conversation is not None, f"no conversation for {channel}/{thread_ts}"
        return conversation

    def model_texts(self, index: int = -1) -> str:
        """Everything one agent-turn request told the model in its messages, as text."""
        body = self.agent_requests()[index]
        return json.dumps(body["messages"], ensure_ascii=False)

    def agent_requests(self) -> list[dict[str, Any]]:
        """Bodies of the agent-turn requests (not routing questions), in order."""
        return [
            r.body
            for r in self.anthropic.message_requests
            if any(t.get("name") == "deliver_result" for t in r.body.get("tools", []))
        ]


def is_card(message: dict[str, Any]) -> bool:
    """Whether a message is a requirement card (its first block is the card's heading)."""
    blocks = message.get("blocks") or []
    first = blocks[0] if blocks else {}
    return bool(message.get("bot_id")) and str(first.get("text", "")).startswith(
        "### Requirement card"
    )


def _label(element: dict[str, Any]) -> str | None:
    text = element.get("text")
    return text.get("text") if isinstance(text, dict) else None


def _feedback_button(element: dict[str, Any], label: str) -> dict[str, Any] | None:
    if element.get("type") != "feedback_buttons":
        return None
    for side in ("positive_button", "negative_button"):
        button = element.get(side) or {}
        if _label(button) == label:
            return dict(button)
    return None


def _find_element(
    message: dict[str, Any], wanted: Callable[[dict[str, Any]], bool]
) -> tuple[dict[str, Any], dict[str, Any]]:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and wanted(element):
                return block, element
    raise AssertionError(f"no such control in {visible_text(message)!r}")


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack(
        users={
            ALICE: {
                "real_name": "Alice Archer",
                "display_name": "alice",
                "tz": "America/Los_Angeles",
            },
            BOB: {"real_name": "Bob Baker", "display_name": "bob"},
            OTHER_BOT_USER: {"real_name": "Deploy Bot", "is_bot": True, "bot_id": OTHER_BOT_ID},
        },
        channels={CHANNEL: {"name": "desk"}, OPEN_CHANNEL: {"name": "open"}, DM: {"user": ALICE}},
    ) as server:
        yield server


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def extra_settings() -> dict[str, Any]:
    """Settings a test module adds to the harness's (override the fixture there)."""
    return {}


@pytest.fixture
def harness(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    fake_slack: FakeSlack,
    fake_anthropic: FakeAnthropic,
    monkeypatch: pytest.MonkeyPatch,
    extra_settings: dict[str, Any],
) -> Iterator[SlackHarness]:
    """The whole app - desk, Bolt, worker, Starlette - served by uvicorn on 127.0.0.1.

    `@pytest.mark.app_settings(NAME=value, …)` changes settings for one test."""
    marker = request.node.get_closest_marker("app_settings")
    settings = make_settings(
        tmp_path,
        fake_anthropic,
        slack_bot_token="xoxb-test",
        slack_signing_secret=SECRET,
        slack_api_url=fake_slack.api_url,
        **extra_settings,
        **(marker.kwargs if marker else {}),
    )
    with serving(settings, fake_slack, fake_anthropic, monkeypatch) as running:
        yield running


@contextmanager
def serving(
    settings: Settings,
    fake_slack: FakeSlack,
    fake_anthropic: FakeAnthropic,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[SlackHarness]:
    """Serve the app built from `settings` over HTTP against the fakes, then check it."""
    desk = build_desk(settings)
    desk.configure_channel(team_id=TEAM, channel_id=CHANNEL, default_agent=BACKEND)
    executors: list[TrackingExecutor] = []

    def make_executor(max_workers: int | None = None) -> TrackingExecutor:
        executors.append(TrackingExecutor(max_workers))
        return executors[-1]

    with monkeypatch.context() as patch:  # Bolt makes its listener pool in App()
        patch.setattr("slack_bolt.app.app.ThreadPoolExecutor", make_executor)
        slack = build_slack_app(settings, desk)
    (executor,) = executors
    server = uvicorn.Server(
        uvicorn.Config(
            build_http_app(slack, desk),
            host="127.0.0.1",
            port=0,
            lifespan="on",
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    fake_slack.wait_for(lambda: server.started, timeout=10, message="uvicorn to start")
    port = server.servers[0].sockets[0].getsockname()[1]
    harness = SlackHarness(
        base_url=f"http://127.0.0.1:{port}",
        slack=fake_slack,
        anthropic=fake_anthropic,
        desk=desk,
        app=slack,
        executor=executor,
    )
    try:
        yield harness
        # Whatever a test did: every reply went into a thread, nothing broke inside the fakes,
        # and the model was never asked something the test did not script.
        for params in fake_slack.calls_to("chat.postMessage"):
            top_level = ("Feature request from", "agentdesk digest")
            if not str(params.get("text", "")).startswith(top_level):
                assert params.get("thread_ts"), f"a reply outside a thread: {params}"
        assert fake_slack.errors == []
        assert fake_anthropic.failures == []
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        executor.shutdown(wait=True)
        desk.engine.dispose()
