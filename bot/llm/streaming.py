"""The Messages API call of `LLMClient.complete`, streamed: text reaches a callback as the
model writes it, and the finished message comes back as the same `Completion`."""

import time
from collections.abc import Callable
from typing import Any

from bot.llm.client import Completion, LLMClient, explain_failure, messages_request
from bot.llm.retries import should_retry
from bot.observability.metrics import MODEL_SECONDS


def stream_completion(
    *,
    llm: LLMClient,
    model: str,
    system: str,
    messages: list[dict[str, Any]],
    on_text: Callable[[str], None],
    tools: list[dict[str, Any]] | None = None,
    tool_choice: dict[str, Any] | None = None,
    max_tokens: int | None = None,
) -> Completion:
    """One streamed Messages API call; raises ModelUnavailableError like `complete`.

    `on_text` must not raise: a chat that stops taking the preview is the caller's business.
    """
    request = messages_request(
        settings=llm.settings,
        model=model,
        system=system,
        messages=messages,
        tools=tools,
        tool_choice=tool_choice,
        max_tokens=max_tokens,
    )
    import anthropic  # loaded on first use: the SDK takes seconds to import

    started, clock = False, time.perf_counter()
    try:
        with llm.in_flight, llm.sdk.messages.stream(**request) as stream:
            for text in stream.text_stream:
                started = True
                on_text(text)
            response = stream.get_final_message()
    except anthropic.APIError as error:
        MODEL_SECONDS.labels(model=model, result=type(error).__name__).observe(
            time.perf_counter() - clock
        )
        if started or not should_retry(error) or llm.settings.model_max_retries == 0:
            raise explain_failure(error, llm.settings) from error
        # Nothing was shown yet: the plain call retries as MODEL_MAX_RETRIES allows.
        return llm.complete(
            model=model,
            system=system,
            messages=messages,
            tools=tools,
            tool_choice=tool_choice,
            max_tokens=max_tokens,
            attempts_made=1,  # the streamed try counts as the first
        )
    MODEL_SECONDS.labels(model=model, result="ok").observe(time.perf_counter() - clock)
    return Completion.of(response, model=model)
