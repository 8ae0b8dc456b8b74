"""A thin client over the Anthropic SDK: bounded retries, caching, usage, readable failures.

The SDK is imported on first use, not with this module: it takes seconds to import, and a
command that stops at a set-up mistake, or never calls the model, should not wait for it.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.accounting.tokens import TokenUsage
from bot.config import Settings
from bot.llm.caching import cached_messages, cached_system, cached_tools
from bot.llm.errors import MissingApiKeyError, ModelUnavailableError
from bot.llm.retries import retry_wait, should_retry
from bot.llm.usage_from_api import usage_from_api
from bot.observability.metrics import MODEL_SECONDS

if TYPE_CHECKING:
    import anthropic
    from anthropic.types import Message as ApiMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Completion:
    """A model answer: its content blocks, why it stopped, and what it cost."""

    content: list[Any]
    stop_reason: str | None
    usage: TokenUsage
    model: str
    raw: ApiMessage | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        """The text blocks joined."""
        return "".join(block.text for block in self.content if block.type == "text").strip()

    def tool_uses(self) -> list[Any]:
        """The tool calls the model made."""
        return [block for block in self.content if block.type == "tool_use"]

    @classmethod
    def of(cls, response: ApiMessage, *, model: str) -> Completion:
        """The answer in an API response (`model`: what was asked for, if it names none)."""
        return cls(
            content=list(response.content),
            stop_reason=response.stop_reason,
            usage=usage_from_api(response.usage),
            model=response.model or model,
            raw=response,
        )


def messages_request(
    *,
    settings: Settings,
    model: str,
    system: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    tool_choice: dict[str, Any] | None = None,
    max_tokens: int | None = None,
    cache: bool = True,
) -> dict[str, Any]:
    """The body of a Messages API call, with prompt-caching markers unless told not to."""
    request: dict[str, Any] = {
        "model": model,
        "max_tokens": max_tokens or settings.model_max_tokens,
        "system": cached_system(system) if cache else system,
        "messages": cached_messages(messages) if cache else messages,
    }
    if tools:
        request["tools"] = cached_tools(tools) if cache else tools
    if tool_choice:
        request["tool_choice"] = tool_choice
    return request


class LLMClient:
    """Sends Messages API requests with prompt caching and turns failures into reasons."""

    def __init__(self, settings: Settings, *, sdk: anthropic.Anthropic | None = None) -> None:
        self.settings = settings
        self._sdk = sdk
        self._in_flight = threading.BoundedSemaphore(settings.model_calls_in_flight)

    @property
    def configured(self) -> bool:
        """True when requests can be sent (an API key is set)."""
        return self._sdk is not None or self.settings.anthropic_api_key is not None

    def prepare(self) -> None:
        """Make the SDK client now, when a key is set: a process that runs turns pays for
        importing the SDK (about a second) at start, not in its first turns."""
        if self.configured:
            self.sdk  # noqa: B018 - made on first use

    @property
    def in_flight(self) -> threading.BoundedSemaphore:
        """The MODEL_CALLS_IN_FLIGHT cap every model call (streamed or not) waits on."""
        return self._in_flight

    @property
    def sdk(self) -> anthropic.Anthropic:
        """The SDK client, made on first use."""
        if self._sdk is None:
            import anthropic

            key = self.settings.anthropic_api_key
            if key is None:
                raise MissingApiKeyError()
            # Retries are ours (bot/llm/retries.py): the SDK tries once.
            self._sdk = anthropic.Anthropic(
                api_key=key.get_secret_value(),
                base_url=self.settings.anthropic_base_url,
                max_retries=0,
                timeout=self.settings.model_timeout_seconds,
            )
        return self._sdk

    def complete(
        self,
        *,
        model: str,
        system: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        tool_choice: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        cache: bool = True,
        attempts_made: int = 0,
    ) -> Completion:
        """One Messages API call; raises ModelUnavailableError with a readable reason on failure.

        `attempts_made`: tries already spent elsewhere (a streamed try), counted against
        MODEL_MAX_RETRIES."""
        request = messages_request(
            settings=self.settings,
            model=model,
            system=system,
            messages=messages,
            tools=tools,
            tool_choice=tool_choice,
            max_tokens=max_tokens,
            cache=cache,
        )
        response = self._create_with_retries(request, first_attempt=attempts_made)
        return Completion.of(response, model=model)

    def _create_with_retries(self, request: dict[str, Any], *, first_attempt: int) -> ApiMessage:
        """`messages.create`, tried again while that may help, up to MODEL_MAX_RETRIES times."""
        import anthropic

        sdk = self.sdk
        for attempt in itertools.count(first_attempt):
            started = time.perf_counter()
            try:
                with self._in_flight:  # MODEL_CALLS_IN_FLIGHT: the rest wait here
                    response: ApiMessage = sdk.messages.create(
                        **request, extra_headers={"x-stainless-retry-count": str(attempt)}
                    )
                MODEL_SECONDS.labels(model=request["model"], result="ok").observe(
                    time.perf_counter() - started
                )
                return response
            except anthropic.APIError as error:
                MODEL_SECONDS.labels(model=request["model"], result=type(error).__name__).observe(
                    time.perf_counter() - started
                )
                if attempt >= self.settings.model_max_retries or not should_retry(error):
                    raise _explain(error, self.settings) from error
                wait = retry_wait(
                    error=error, attempt=attempt, cap=self.settings.model_retry_wait_cap_seconds
                )
                log.info("model call failed (%s); retrying in %.2f s", error, wait)
                time.sleep(wait)
        raise AssertionError("unreachable")


def _explain(error: anthropic.APIError, settings: Settings) -> ModelUnavailableError:
    """A sentence a teammate can act on, for an SDK error after its retries."""
    import anthropic

    retries = settings.model_max_retries
    after = f" (still after {retries} retries)" if retries else ""
    # The address stays in the log: a thread is no place for an internal host name.
    where = settings.anthropic_base_url or "Anthropic's API"
    log.warning("model call to %s failed: %s", where, error)
    if isinstance(error, anthropic.APIConnectionError):
        return ModelUnavailableError(f"I couldn't reach the model API{after}.")
    if isinstance(error, anthropic.AuthenticationError):
        return ModelUnavailableError(
            "The model API refused our key (401): check ANTHROPIC_API_KEY.", retryable=False
        )
    if isinstance(error, anthropic.PermissionDeniedError):
        return ModelUnavailableError(
            "The model API says our key may not use this model (403): check the agent's "
            "`model:` and the key's permissions.",
            retryable=False,
        )
    if isinstance(error, anthropic.RateLimitError):
        return ModelUnavailableError(f"The model API is rate-limiting us (429){after}.")
    if isinstance(error, anthropic.APIStatusError):
        status = error.status_code
        message = _api_message(error)
        if status == 529:
            return ModelUnavailableError(f"The model is overloaded right now (529){after}.")
        if status >= 500:
            return ModelUnavailableError(f"The model API had an internal error ({status}){after}.")
        too_long = status == 413 or "prompt is too long" in message.lower()
        return ModelUnavailableError(
            f"The model API rejected the request ({status}): {message}",
            retryable=too_long,
            too_long=too_long,
        )
    return ModelUnavailableError(f"The model call failed: {error}")


def _api_message(error: anthropic.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(error.message)


def explain_failure(error: anthropic.APIError, settings: Settings) -> ModelUnavailableError:
    """The readable failure for an SDK error, for callers outside this module (streaming)."""
    return _explain(error, settings)
