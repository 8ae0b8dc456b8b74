"""Drive `FakeAnthropic` with the real ``anthropic.Anthropic`` client (SDK 2.x)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from anthropic.types import MessageParam, TextBlock, TextBlockParam, ToolParam, ToolUseBlock

from tests.fakes.anthropic_server import (
    NO_SCRIPTED_RESPONSE,
    FakeAnthropic,
    MessageSpec,
    TextSpec,
    ToolUseSpec,
    estimate_input_tokens,
)

MODEL = "claude-sonnet-4-6"
USER_HELLO: list[Any] = [{"role": "user", "content": "Hello"}]
WEATHER_TOOL: ToolParam = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
FAST_RETRY = {"retry-after-ms": "1"}  # the SDK only honours retry-after values > 0


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def client(fake: FakeAnthropic) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=fake.base_url, api_key="test-key") as sdk_client:
        yield sdk_client


def _post_raw(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, str]:
    """POST without the SDK, returning the status and the raw response text."""
    request = urllib.request.Request(  # noqa: S310 - loopback URL from the fake
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_plain_text_reply(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.reply_text("hello there")

    message = client.messages.create(model=MODEL, max_tokens=100, messages=USER_HELLO)

    assert isinstance(message.content[0], TextBlock)
    assert message.content[0].text == "hello there"
    assert message.stop_reason == "end_turn"
    assert message.model == MODEL
    assert message.id.startswith("msg_")
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0
    (request,) = fake.requests
    assert request.path == "/v1/messages"
    assert request.headers["Authorization"] == "Bearer test-key"
    assert request.headers["anthropic-version"]
    assert request.retry_count == 0
    assert request.body["messages"] == USER_HELLO
    assert fake.pending == 0


def test_tool_use_reply_and_computed_follow_up(
    fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    fake.reply_tool_use("get_weather", {"city": "Paris"}, text_before="Let me check.")

    def answer_from_tool_result(body: dict[str, Any]) -> str:
        result = body["messages"][-1]["content"][0]
        return f"It is {result['content']} in Paris."

    fake.enqueue(answer_from_tool_result)

    first = client.messages.create(
        model=MODEL, max_tokens=100, messages=USER_HELLO, tools=[WEATHER_TOOL]
    )
    assert first.stop_reason == "tool_use"
    text, tool = first.content
    assert isinstance(text, TextBlock)
    assert text.text == "Let me check."
    assert isinstance(tool, ToolUseBlock)
    assert tool.name == "get_weather"
    assert tool.input == {"city": "Paris"}
    assert tool.id.startswith("toolu_")

    second = client.messages.create(
        model=MODEL,
        max_tokens=100,
        tools=[WEATHER_TOOL],
        messages=[
            *USER_HELLO,
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "18°C"}],
            },
        ],
    )
    assert isinstance(second.content[0], TextBlock)
    assert second.content[0].text == "It is 18°C in Paris."


def test_streaming_text_and_tool_input(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.enqueue(
        MessageSpec(
            content=[
                TextSpec("Sure, checking the weather for you now."),
                ToolUseSpec("get_weather", {"city": "Paris", "units": "metric"}),
            ]
        )
    )

    with client.messages.stream(
        model=MODEL, max_tokens=100, messages=USER_HELLO, tools=[WEATHER_TOOL]
    ) as stream:
        chunks = list(stream.text_stream)
        final = stream.get_final_message()

    assert len(chunks) > 1
    assert "".join(chunks) == "Sure, checking the weather for you now."
    assert final.stop_reason == "tool_use"
    tool = final.content[1]
    assert isinstance(tool, ToolUseBlock)
    assert tool.input == {"city": "Paris", "units": "metric"}
    assert final.usage.output_tokens > 1
    assert fake.requests[0].body["stream"] is True


def test_sse_wire_format(fake: FakeAnthropic) -> None:
    fake.reply_text("streamed words")
    body = {"model": MODEL, "max_tokens": 10, "messages": USER_HELLO, "stream": True}
    headers = {"x-api-key": "k", "anthropic-version": "2026-10-21"}

    status, text = _post_raw(f"{fake.base_url}/v1/messages", body, headers)

    assert status == 200
    frames = [frame for frame in text.split("\n\n") if frame]
    events = [frame.split("\n")[0].removeprefix("event: ") for frame in frames]
    assert all(frame.startswith("event: ") for frame in frames)
    assert events[:3] == ["message_start", "ping", "content_block_start"]
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(events[3:-3]) == {"content_block_delta"}
    payloads = [json.loads(frame.split("\n")[1].removeprefix("data: ")) for frame in frames]
    assert [payload["type"] for payload in payloads] == events
    assert payloads[-2]["delta"]["stop_reason"] == "end_turn"


def test_mid_stream_error(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.reply_stream_error("overloaded_error", "Overloaded", text_before="partial answer")

    received: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError, match="Overloaded"),
        client.messages.stream(model=MODEL, max_tokens=100, messages=USER_HELLO) as stream,
    ):
        received.extend(stream.text_stream)

    assert "".join(received) == "partial answer"


def test_overloaded_twice_then_success(fake: FakeAnthropic) -> None:
    fake.reply_error(529, "overloaded_error", "Overloaded", FAST_RETRY)
    fake.reply_error(529, "overloaded_error", "Overloaded", {"retry-after": "0.001"})
    fake.reply_text("finally")

    started = time.monotonic()
    with anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=2) as client:
        message = client.messages.create(model=MODEL, max_tokens=10, messages=USER_HELLO)

    assert isinstance(message.content[0], TextBlock)
    assert message.content[0].text == "finally"
    assert [r.headers["x-stainless-retry-count"] for r in fake.requests] == ["0", "1", "2"]
    assert time.monotonic() - started < 2


def test_server_error_without_retries(fake: FakeAnthropic) -> None:
    fake.reply_error(500, "api_error", "Internal server error: boom")

    with (
        anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0) as client,
        pytest.raises(anthropic.InternalServerError, match="boom") as caught,
    ):
        client.messages.create(model=MODEL, max_tokens=10, messages=USER_HELLO)

    assert caught.value.status_code == 500
    assert caught.value.api_message == "Internal server error: boom"
    assert caught.value.type == "api_error"
    assert caught.value.request_id == fake.requests[0].request_id
    assert caught.value.request_id is not None
    assert caught.value.request_id.startswith("req_")
    assert len(fake.requests) == 1


def test_empty_script_fails_loudly_without_retries(
    fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    with pytest.raises(anthropic.InternalServerError, match=NO_SCRIPTED_RESPONSE):
        client.messages.create(model=MODEL, max_tokens=10, messages=USER_HELLO)

    assert len(fake.requests) == 1  # x-should-retry: false stops the SDK's retries
    assert fake.failures == [NO_SCRIPTED_RESPONSE]


def test_default_responder(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.default = lambda body: f"echo {body['messages'][-1]['content']}"

    message = client.messages.create(model=MODEL, max_tokens=10, messages=USER_HELLO)

    assert isinstance(message.content[0], TextBlock)
    assert message.content[0].text == "echo Hello"


_TOOL_TURN: list[Any] = [
    *USER_HELLO,
    {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}}],
    },
]


def _marked(text: str) -> TextBlockParam:
    return {"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"messages": [{"role": "assistant", "content": "Hi"}]}, "first message"),
        ({"messages": [*USER_HELLO, *USER_HELLO]}, "roles must alternate"),
        (
            {
                "messages": [
                    *_TOOL_TURN,
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": "toolu_b", "content": "x"}
                        ],
                    },
                ]
            },
            "unexpected `tool_use_id`",
        ),
        (
            {"messages": USER_HELLO, "extra_body": {"temperature": 0.5, "top_p": 0.9}},
            "`temperature` and `top_p` cannot both be specified",
        ),
        (
            {"messages": USER_HELLO, "system": [_marked(f"part {i}") for i in range(5)]},
            "A maximum of 4 blocks with cache_control",
        ),
        ({"messages": USER_HELLO, "extra_body": {"max_token": 5}}, "max_token: Extra inputs"),
    ],
)
def test_invalid_requests_get_400(
    fake: FakeAnthropic, client: anthropic.Anthropic, kwargs: dict[str, Any], expected: str
) -> None:
    fake.reply_text("never sent")

    with pytest.raises(anthropic.BadRequestError, match=expected) as caught:
        client.messages.create(model=MODEL, max_tokens=10, **kwargs)

    assert caught.value.type == "invalid_request_error"
    assert fake.pending == 1  # rejected requests do not consume the script


def test_missing_required_field_and_auth(fake: FakeAnthropic) -> None:
    url = f"{fake.base_url}/v1/messages"
    good_headers = {"authorization": "Bearer k", "anthropic-version": "2026-10-21"}

    status, text = _post_raw(url, {"model": MODEL, "messages": USER_HELLO}, good_headers)
    assert status == 400
    assert json.loads(text)["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Field required",
    }

    status, text = _post_raw(url, {}, {"anthropic-version": "2026-10-21"})
    assert status == 401
    body = json.loads(text)
    assert body["type"] == "error"
    assert body["error"]["type"] == "authentication_error"
    assert body["request_id"].startswith("req_")


def test_wrong_api_key() -> None:
    with (
        FakeAnthropic(api_key="right-key") as fake,
        anthropic.Anthropic(base_url=fake.base_url, api_key="wrong-key") as client,
        pytest.raises(anthropic.AuthenticationError),
    ):
        client.messages.create(model=MODEL, max_tokens=10, messages=USER_HELLO)


def test_count_tokens(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    result = client.messages.count_tokens(model=MODEL, messages=USER_HELLO, system="Be brief.")

    expected = estimate_input_tokens({"messages": USER_HELLO, "system": "Be brief."})
    assert result.input_tokens == expected
    assert fake.pending == 0


def test_prompt_cache_read_on_second_request(
    fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    system: list[TextBlockParam] = [_marked("You are a meticulous assistant. " * 40)]
    fake.reply_text("one")
    fake.reply_text("two")

    first = client.messages.create(model=MODEL, max_tokens=10, system=system, messages=USER_HELLO)
    second = client.messages.create(
        model=MODEL,
        max_tokens=10,
        system=system,
        messages=[
            *USER_HELLO,
            {"role": "assistant", "content": "one"},
            {"role": "user", "content": "And again?"},
        ],
    )

    assert first.usage.cache_creation_input_tokens and first.usage.cache_creation_input_tokens > 0
    assert first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0


def test_prompt_cache_follows_moving_marker(
    fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    """Agent loops move the marker to the newest turn; the old prefix is still read."""
    history: list[MessageParam] = [{"role": "user", "content": [_marked("Long question. " * 50)]}]
    fake.reply_text("first answer")
    fake.reply_text("second answer")

    first = client.messages.create(model=MODEL, max_tokens=10, messages=history)
    follow_up: list[MessageParam] = [
        {"role": "user", "content": [{"type": "text", "text": "Long question. " * 50}]},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": [_marked("Short follow-up.")]},
    ]
    second = client.messages.create(model=MODEL, max_tokens=10, messages=follow_up)

    created = first.usage.cache_creation_input_tokens
    assert created
    assert second.usage.cache_read_input_tokens == created
    assert second.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens > 0


def test_explicit_usage_overrides_simulation(
    fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    fake.reply_text("x", usage={"input_tokens": 7, "output_tokens": 3})

    message = client.messages.create(model=MODEL, max_tokens=10, messages=USER_HELLO)

    assert (message.usage.input_tokens, message.usage.output_tokens) == (7, 3)


def test_wait_for_requests(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.enqueue(MessageSpec(content=[TextSpec("slow")], delay_seconds=0.2))
    worker = threading.Thread(
        target=client.messages.create,
        kwargs={"model": MODEL, "max_tokens": 10, "messages": USER_HELLO},
    )
    worker.start()

    (request,) = fake.wait_for_requests(1, timeout=5)
    worker.join(timeout=5)

    assert request.body["model"] == MODEL
    with pytest.raises(TimeoutError):
        fake.wait_for_requests(2, timeout=0.1)
