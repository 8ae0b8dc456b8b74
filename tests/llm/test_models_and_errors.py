"""Model aliases, and SDK failures turned into reasons a teammate can act on."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.llm.client import LLMClient
from bot.llm.errors import MissingApiKeyError, ModelUnavailableError
from bot.llm.model_ids import resolve_model
from tests.fakes.anthropic_server import FakeAnthropic
from tests.support import make_settings

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        (None, "claude-sonnet-5-5"),
        ("inherit", "claude-sonnet-5-5"),
        ("", "claude-sonnet-5-5"),
        ("sonnet", "claude-sonnet-5-5"),
        ("Opus", "claude-opus-5-5"),
        ("haiku", "claude-haiku-5-5"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4-20250514"),
    ],
)
def test_agent_models_resolve(declared: str | None, expected: str) -> None:
    assert resolve_model(declared, settings=Settings(_env_file=None)) == expected  # type: ignore[call-arg]


def test_configured_ids_replace_the_aliases() -> None:
    settings = Settings(_env_file=None, model_opus="claude-opus-9")  # type: ignore[call-arg]
    assert resolve_model("opus", settings=settings) == "claude-opus-9"


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key="test-key") as server:
        yield server


def _client(tmp_path: Path, fake: FakeAnthropic, **overrides: object) -> LLMClient:
    return LLMClient(make_settings(tmp_path, fake, **overrides))


@pytest.mark.parametrize(
    ("status", "error_type", "reason", "retryable"),
    [
        (529, "overloaded_error", "The model is overloaded right now (529)", True),
        (429, "rate_limit_error", "The model API is rate-limiting us (429)", True),
        (503, "api_error", "The model API had an internal error (503)", True),
        (403, "permission_error", "may not use this model (403)", False),
        (400, "invalid_request_error", "rejected the request (400): no such model", False),
    ],
)
def test_failures_after_retries_read_as_reasons(
    tmp_path: Path, fake: FakeAnthropic, status: int, error_type: str, reason: str, retryable: bool
) -> None:
    for _ in range(3):
        message = "no such model" if status == 400 else "failure"
        fake.reply_error(status, error_type, message, {"retry-after": "30"})
    client = _client(tmp_path, fake)
    with pytest.raises(ModelUnavailableError) as caught:
        client.complete(model="claude-sonnet-5-5", system="s", messages=MESSAGES)
    assert reason in caught.value.reason
    assert caught.value.retryable is retryable
    # retry-after says 30 s: the waits are capped (0.05 s in tests), so this finished fast.


def test_a_wrong_key_is_named(tmp_path: Path, fake: FakeAnthropic) -> None:
    client = _client(tmp_path, fake, anthropic_api_key="wrong-key")
    with pytest.raises(ModelUnavailableError) as caught:
        client.complete(model="claude-sonnet-5-5", system="s", messages=MESSAGES)
    assert caught.value.reason == "The model API refused our key (401): check ANTHROPIC_API_KEY."
    assert not caught.value.retryable


def test_an_unreachable_server_is_named(tmp_path: Path) -> None:
    with FakeAnthropic() as gone:
        url = gone.base_url
    settings = make_settings(
        tmp_path, anthropic_api_key="k", anthropic_base_url=url, model_max_retries=0
    )
    with pytest.raises(ModelUnavailableError) as caught:
        LLMClient(settings).complete(model="m", system="s", messages=MESSAGES)
    assert caught.value.reason == "I couldn't reach the model API."
    assert url not in caught.value.reason  # the address stays in the log, out of threads


def test_no_key_says_what_to_set(tmp_path: Path) -> None:
    client = LLMClient(make_settings(tmp_path))
    assert not client.configured
    with pytest.raises(MissingApiKeyError) as caught:
        client.complete(model="m", system="s", messages=MESSAGES)
    assert (
        "ANTHROPIC_API_KEY" in caught.value.reason and "ANTHROPIC_BASE_URL" in caught.value.reason
    )


def test_usage_includes_cache_reads_and_writes(tmp_path: Path, fake: FakeAnthropic) -> None:
    fake.reply_text(
        "hi",
        usage={
            "input_tokens": 10,
            "output_tokens": 3,
            "cache_read_input_tokens": 900,
            "cache_creation_input_tokens": 90,
        },
    )
    completion = _client(tmp_path, fake).complete(model="m", system="s", messages=MESSAGES)
    assert (completion.usage.input_tokens, completion.usage.cache_read_tokens) == (10, 900)
    assert (completion.usage.cache_write_tokens, completion.usage.output_tokens) == (90, 3)
    assert completion.usage.total_input == 1000
