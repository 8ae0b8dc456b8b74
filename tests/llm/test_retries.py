"""Our own retry loop around the SDK (max_retries=0): which failures, how long, how many."""

import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest

from bot.llm.client import LLMClient
from bot.llm.errors import ModelUnavailableError
from tests.fakes.anthropic_server import FakeAnthropic
from tests.support import make_settings

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


def _client(tmp_path: Path, fake: FakeAnthropic, **overrides: object) -> LLMClient:
    return LLMClient(make_settings(tmp_path, fake, **overrides))


def test_the_sdk_is_used_through_public_settings_only(tmp_path: Path, fake: FakeAnthropic) -> None:
    sdk = _client(tmp_path, fake).sdk
    assert type(sdk) is anthropic.Anthropic  # no subclass overriding private methods
    assert sdk.max_retries == 0


@pytest.mark.parametrize("status", [408, 409, 429, 500, 503, 529])
def test_the_statuses_the_sdk_retries_are_retried(
    tmp_path: Path, fake: FakeAnthropic, status: int
) -> None:
    fake.reply_error(status, "api_error", "try again")
    fake.reply_text("hi")
    assert _client(tmp_path, fake).complete(model="m", system="s", messages=MESSAGES).text == "hi"
    assert [r.retry_count for r in fake.message_requests] == [0, 1]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_other_statuses_are_not_retried(tmp_path: Path, fake: FakeAnthropic, status: int) -> None:
    fake.reply_error(status, "invalid_request_error", "no")
    with pytest.raises(ModelUnavailableError):
        _client(tmp_path, fake).complete(model="m", system="s", messages=MESSAGES)
    assert len(fake.message_requests) == 1


def test_x_should_retry_overrides_the_status(tmp_path: Path, fake: FakeAnthropic) -> None:
    fake.reply_error(500, "api_error", "do not", {"x-should-retry": "false"})
    with pytest.raises(ModelUnavailableError):
        _client(tmp_path, fake).complete(model="m", system="s", messages=MESSAGES)
    assert len(fake.message_requests) == 1
    fake.reset()
    fake.reply_error(400, "invalid_request_error", "do", {"x-should-retry": "true"})
    fake.reply_text("hi")
    _client(tmp_path, fake).complete(model="m", system="s", messages=MESSAGES)
    assert len(fake.message_requests) == 2


@pytest.mark.parametrize(
    ("status", "headers", "cap", "least", "most"),
    [
        (529, {"retry-after-ms": "300"}, 5.0, 0.3, 3.0),  # honoured below the cap
        (429, {"retry-after": "600"}, 0.2, 0.0, 3.0),  # a long wait is capped
    ],
)
def test_the_wait_the_server_asks_for_is_honoured_up_to_the_cap(
    tmp_path: Path,
    fake: FakeAnthropic,
    status: int,
    headers: dict[str, str],
    cap: float,
    least: float,
    most: float,
) -> None:
    fake.reply_error(status, "overloaded_error", "busy", headers)
    fake.reply_text("hi")
    client = _client(tmp_path, fake, model_retry_wait_cap_seconds=cap)
    started = time.monotonic()
    client.complete(model="m", system="s", messages=MESSAGES)
    assert least <= time.monotonic() - started < most


def test_the_retries_stop_at_the_setting(tmp_path: Path, fake: FakeAnthropic) -> None:
    for _ in range(5):
        fake.reply_error(529, "overloaded_error", "busy")
    with pytest.raises(ModelUnavailableError) as caught:
        _client(tmp_path, fake, model_max_retries=3).complete(
            model="m", system="s", messages=MESSAGES
        )
    assert [r.retry_count for r in fake.message_requests] == [0, 1, 2, 3]
    assert "still after 3 retries" in caught.value.reason


def test_an_unreachable_server_is_tried_again(tmp_path: Path) -> None:
    with FakeAnthropic() as gone:
        url = gone.base_url
    settings = make_settings(tmp_path, anthropic_api_key="k", anthropic_base_url=url)
    with pytest.raises(ModelUnavailableError) as caught:
        LLMClient(settings).complete(model="m", system="s", messages=MESSAGES)
    assert "(still after 2 retries)" in caught.value.reason
