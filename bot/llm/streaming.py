"""The Messages API call of `LLMClient.complete`, streamed: text reaches a callback as the
model writes it, and the finished message comes back as the same `Completion`.

A tool's input streams too (`input_json_delta`): with `tool_text`, the text a partial input
stands for (a plan's document, a question) reaches the same callback as it grows, since the
deliverables a person waits for arrive as tool input rather than as text."""

import time
from collections.abc import Callable
from typing import Any

import jiter

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
    tool_text: Callable[[str, Any], str] | None = None,
) -> Completion:
    """One streamed Messages API call; raises ModelUnavailableError like `complete`.

    `on_text` must not raise: a chat that stops taking the preview is the caller's business.
    `tool_text(name, partial_input)` gives the text a tool call shows so far; only what
    extends the text already shown is passed on.
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
            written: dict[int, str] = {}  # content block -> its input's JSON so far
            shown: dict[int, str] = {}  # content block -> the tool text passed on so far
            for event in stream:
                if event.type == "text":
                    started = True
                    on_text(event.text)
                elif event.type == "input_json" and tool_text is not None:
                    blocks = stream.current_message_snapshot.content
                    block = len(blocks)
                    written[block] = written.get(block, "") + event.partial_json
                    name = str(getattr(blocks[-1], "name", ""))
                    text = tool_text(name, _partial_input(written[block]))
                    before = shown.get(block, "")
                    if len(text) > len(before) and text.startswith(before):
                        gap = "\n\n" if started and not before else ""  # after earlier words
                        started = True
                        on_text(gap + text[len(before) :])
                        shown[block] = text
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


def _partial_input(written: str) -> Any:
    """A tool input still being written, its last string cut where the model is (the SDK's
    own snapshot leaves unfinished strings out, so a plan's document would come all at once)."""
    try:
        return jiter.from_json(written.encode(), partial_mode="trailing-strings")
    except ValueError:
        return None
