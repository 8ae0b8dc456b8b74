"""A scriptable fake of the Anthropic Messages API, speaking the real wire protocol.

`FakeAnthropic` runs a real HTTP server on 127.0.0.1 (OS-chosen port) in a background
thread, so the real ``anthropic.Anthropic`` client (SDK 2.x, httpx2 transport) can be pointed
at it with ``base_url=fake.base_url``. Tests script the responses of ``POST /v1/messages``
one request at a time::

    with FakeAnthropic() as fake:
        fake.reply_text("hello")
        fake.reply_error(529, "overloaded_error", "Overloaded", {"retry-after-ms": "1"})
        client = anthropic.Anthropic(base_url=fake.base_url, api_key="test-key")
        ...

What it implements (see PROTOCOL-NOTES.md, section 4):

* ``POST /v1/messages`` as JSON or, with ``"stream": true``, as SSE frames that carry
  ``event:`` lines in the real order (message_start, ping, content_block_start /
  content_block_delta / content_block_stop per block, message_delta, message_stop), and a
  scripted mid-stream ``event: error``.
* ``POST /v1/messages/count_tokens`` returning ``{"input_tokens": N}``.
* Error bodies ``{"type": "error", "error": {...}, "request_id": "req_..."}`` with a
  ``request-id`` header, and any extra headers a test wants (``retry-after-ms``,
  ``retry-after``, ``x-should-retry``).
* Request validation for obviously wrong input (400 ``invalid_request_error``) and a
  credentials check (401 ``authentication_error``).
* A simple prompt-cache simulation driven by ``cache_control`` markers.

Scripted responses are consumed only by ``/v1/messages`` requests that pass authentication
and validation: a request the real API would reject never reaches "the model".
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeAlias

from tests.fakes.loopback import LoopbackHandler, LoopbackServer

JSONDict: TypeAlias = dict[str, Any]

MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
NO_SCRIPTED_RESPONSE = "fake anthropic: no scripted response left"

#: Top-level keys the real ``POST /v1/messages`` accepts (SDK 2.14.0 params, plus sampling
#: parameters that can still arrive through ``extra_body``). Anything else is rejected with
#: "Extra inputs are not permitted", like the real API does.
MESSAGES_KEYS: frozenset[str] = frozenset(
    {
        "model",
        "max_tokens",
        "messages",
        "cache_control",
        "container",
        "context_management",
        "diagnostics",
        "inference_geo",
        "mcp_servers",
        "metadata",
        "output_config",
        "service_tier",
        "speed",
        "stop_sequences",
        "stream",
        "system",
        "temperature",
        "thinking",
        "tool_choice",
        "tools",
        "top_k",
        "top_p",
        "user_profile_id",
        "workspace_id",
    }
)

#: Top-level keys the real ``POST /v1/messages/count_tokens`` accepts.
COUNT_TOKENS_KEYS: frozenset[str] = frozenset(
    {
        "model",
        "messages",
        "cache_control",
        "context_management",
        "mcp_servers",
        "output_config",
        "speed",
        "system",
        "thinking",
        "tool_choice",
        "tools",
        "user_profile_id",
        "workspace_id",
    }
)

MAX_CACHE_MARKERS = 4
#: How many blocks before each cache breakpoint the real API checks for an earlier cache hit.
CACHE_LOOKBACK_BLOCKS = 20


def _new_id(prefix: str) -> str:
    """Return an id shaped like the API's (``msg_…``, ``toolu_…``, ``req_…``)."""
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def _new_tool_use_id() -> str:
    return _new_id("toolu")


def estimate_tokens(text: str) -> int:
    """The fake's tokenizer: one token per four characters."""
    return len(text) // 4


def estimate_input_tokens(body: Mapping[str, Any]) -> int:
    """Estimate the input tokens of a request body: ``len(json(messages+system+tools)) // 4``."""
    payload = {
        "messages": body.get("messages"),
        "system": body.get("system"),
        "tools": body.get("tools"),
    }
    return estimate_tokens(json.dumps(payload, separators=(",", ":"), sort_keys=True))


# --------------------------------------------------------------------------------------------
# Response specs
# --------------------------------------------------------------------------------------------


@dataclass
class TextSpec:
    """A ``text`` content block in a scripted reply."""

    text: str

    def to_json(self) -> JSONDict:
        """The block as the API returns it in a non-streaming response."""
        return {"type": "text", "text": self.text}


@dataclass
class ToolUseSpec:
    """A ``tool_use`` content block in a scripted reply."""

    name: str
    input: JSONDict = field(default_factory=dict)
    id: str = field(default_factory=_new_tool_use_id)

    def to_json(self) -> JSONDict:
        """The block as the API returns it in a non-streaming response."""
        return {"type": "tool_use", "id": self.id, "name": self.name, "input": self.input}


ContentSpec: TypeAlias = TextSpec | ToolUseSpec


@dataclass
class UsageSpec:
    """Explicit usage numbers for a scripted reply; a field left as None is computed."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


@dataclass
class ErrorSpec:
    """A scripted API error: the HTTP status, ``error.type``, ``error.message`` and headers.

    ``details`` becomes ``error.details`` (e.g. ``{"error_code": "..."}``), which the SDK uses
    to pick a more specific exception class.
    """

    status: int
    error_type: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    details: JSONDict | None = None
    delay_seconds: float = 0.0

    def error_json(self) -> JSONDict:
        """The inner ``error`` object (also the payload of an SSE ``error`` event)."""
        error: JSONDict = {"type": self.error_type, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return error

    def body(self, request_id: str) -> JSONDict:
        """The full error response body."""
        return {"type": "error", "error": self.error_json(), "request_id": request_id}


@dataclass
class MessageSpec:
    """A scripted successful ``/v1/messages`` reply.

    ``stop_reason`` defaults to ``"tool_use"`` if any block is a tool use, else ``"end_turn"``.
    Usage fields left unset are computed from the request (and the cache simulation).
    ``delay_seconds`` is slept before answering; ``chunk_delay_seconds`` between SSE events.
    With ``stream_error`` set, a streaming request receives the content blocks followed by an
    ``event: error`` frame instead of the end of the message, and a non-streaming request
    receives ``stream_error`` as a plain HTTP error.
    """

    content: list[ContentSpec] = field(default_factory=list)
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: UsageSpec | None = None
    model: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0
    chunk_delay_seconds: float = 0.0
    stream_error: ErrorSpec | None = None

    @property
    def resolved_stop_reason(self) -> str:
        """The stop reason sent on the wire."""
        if self.stop_reason is not None:
            return self.stop_reason
        if any(isinstance(block, ToolUseSpec) for block in self.content):
            return "tool_use"
        return "end_turn"


Reply: TypeAlias = MessageSpec | ErrorSpec
#: A responder computes a reply from the parsed request body; a plain ``str`` is a text reply.
Responder: TypeAlias = Callable[[JSONDict], MessageSpec | ErrorSpec | str]
Scripted: TypeAlias = MessageSpec | ErrorSpec | Responder
UsageArg: TypeAlias = UsageSpec | Mapping[str, int] | None


def _as_usage(usage: UsageArg) -> UsageSpec | None:
    if usage is None or isinstance(usage, UsageSpec):
        return usage
    return UsageSpec(**dict(usage))


# --------------------------------------------------------------------------------------------
# Recorded requests
# --------------------------------------------------------------------------------------------


class CaseInsensitiveDict(MutableMapping[str, str]):
    """A ``str -> str`` mapping whose keys compare case-insensitively (for HTTP headers)."""

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        self._store: dict[str, tuple[str, str]] = {}
        if data:
            self.update(data)

    def __getitem__(self, key: str) -> str:
        return self._store[key.lower()][1]

    def __setitem__(self, key: str, value: str) -> None:
        self._store[key.lower()] = (key, value)

    def __delitem__(self, key: str) -> None:
        del self._store[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._store.values())

    def __len__(self) -> int:
        return len(self._store)

    def __repr__(self) -> str:
        return f"CaseInsensitiveDict({dict(self.items())!r})"


@dataclass
class RecordedRequest:
    """One HTTP request the fake received, whatever the answer was."""

    method: str
    path: str
    headers: CaseInsensitiveDict
    body: Any
    raw_body: bytes
    request_id: str

    @property
    def retry_count(self) -> int | None:
        """The SDK's ``x-stainless-retry-count`` header as an int, if sent."""
        value = self.headers.get("x-stainless-retry-count")
        return int(value) if value is not None else None


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


class RequestRejectedError(Exception):
    """Raised inside the fake when a request must be answered with an API error."""

    def __init__(self, spec: ErrorSpec) -> None:
        super().__init__(spec.message)
        self.spec = spec


def _invalid(message: str) -> RequestRejectedError:
    return RequestRejectedError(ErrorSpec(400, "invalid_request_error", message))


def _blocks(content: Any) -> list[JSONDict]:
    """The content blocks of a message (a string content counts as one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [block for block in content if isinstance(block, dict)]
    return []


def _marker_holders(body: Mapping[str, Any]) -> Iterator[JSONDict]:
    """Every object on which a ``cache_control`` marker may sit."""
    tools = body.get("tools")
    if isinstance(tools, list):
        yield from (tool for tool in tools if isinstance(tool, dict))
    system = body.get("system")
    if isinstance(system, list):
        yield from (block for block in system if isinstance(block, dict))
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if not isinstance(message, dict):
                continue
            for block in _blocks(message.get("content")):
                yield block
                if block.get("type") == "tool_result":
                    yield from _blocks(block.get("content"))


def count_cache_markers(body: Mapping[str, Any]) -> int:
    """Count ``cache_control`` breakpoints, including the top-level (automatic) one."""
    count = sum(1 for holder in _marker_holders(body) if holder.get("cache_control"))
    return count + (1 if body.get("cache_control") else 0)


def _validate_messages(messages: Any) -> None:
    if not isinstance(messages, list):
        raise _invalid("messages: Input should be a valid list")
    if not messages:
        raise _invalid("messages: at least one message is required")
    previous_role: str | None = None
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _invalid(f"messages.{index}: Input should be a valid dictionary")
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise _invalid(f"messages.{index}.role: Input should be 'user' or 'assistant'")
        if index == 0 and role != "user":
            raise _invalid('messages: first message must use the "user" role')
        if role == previous_role:
            raise _invalid(
                'messages: roles must alternate between "user" and "assistant", '
                f'but found multiple "{role}" roles in a row'
            )
        previous_role = role
        _validate_content(index, message, is_last=index == len(messages) - 1)
    _validate_tool_pairing(messages)


def _validate_content(index: int, message: JSONDict, *, is_last: bool) -> None:
    content = message.get("content")
    if "content" not in message:
        raise _invalid(f"messages.{index}.content: Field required")
    if not isinstance(content, str | list):
        raise _invalid(f"messages.{index}.content: Input should be a valid string or list")
    if not content and not (is_last and message["role"] == "assistant"):
        raise _invalid(
            f"messages.{index}: all messages must have non-empty content except for the "
            "optional final assistant message"
        )
    if isinstance(content, str):
        return
    for block_index, block in enumerate(content):
        where = f"messages.{index}.content.{block_index}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise _invalid(f"{where}.type: Field required")
        block_type = block["type"]
        if block_type == "text" and not block.get("text"):
            raise _invalid(f"{where}: text content blocks must be non-empty")
        if block_type == "tool_use" and message["role"] != "assistant":
            raise _invalid(f"{where}: `tool_use` blocks can only be in `assistant` messages")
        if block_type == "tool_result" and message["role"] != "user":
            raise _invalid(f"{where}: `tool_result` blocks can only be in `user` messages")


def _validate_tool_pairing(messages: list[JSONDict]) -> None:
    """Each tool_result answers a tool_use of the previous message, and vice versa."""
    for index, message in enumerate(messages):
        if message["role"] != "user":
            continue
        previous = messages[index - 1] if index > 0 else {}
        use_ids = [
            b.get("id") for b in _blocks(previous.get("content")) if b.get("type") == "tool_use"
        ]
        answered: list[Any] = []
        for block_index, block in enumerate(_blocks(message.get("content"))):
            if block.get("type") != "tool_result":
                continue
            if block.get("tool_use_id") not in use_ids:
                raise _invalid(
                    f"messages.{index}.content.{block_index}: unexpected `tool_use_id` found "
                    f"in `tool_result` blocks: {block.get('tool_use_id')}. Each `tool_result` "
                    "block must have a corresponding `tool_use` block in the previous message."
                )
            answered.append(block.get("tool_use_id"))
        missing = [str(i) for i in use_ids if i not in answered]
        if missing:
            raise _invalid(
                f"messages.{index}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message."
            )


def _validate_system_and_tools(body: Mapping[str, Any]) -> None:
    system = body.get("system")
    if system is not None and not isinstance(system, str):
        if not isinstance(system, list):
            raise _invalid("system: Input should be a valid string or list")
        for index, block in enumerate(system):
            if not isinstance(block, dict) or block.get("type") != "text":
                raise _invalid(f"system.{index}.type: Input should be 'text'")
            if not block.get("text"):
                raise _invalid(f"system.{index}: text content blocks must be non-empty")
    tools = body.get("tools")
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _invalid("tools: Input should be a valid list")
    names: set[str] = set()
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise _invalid(f"tools.{index}.name: Field required")
        if tool.get("type") in (None, "custom") and not isinstance(tool.get("input_schema"), dict):
            raise _invalid(f"tools.{index}.custom.input_schema: Field required")
        if tool["name"] in names:
            raise _invalid("tools: Tool names must be unique.")
        names.add(tool["name"])


def validate_request(body: Any, *, count_tokens: bool = False) -> JSONDict:
    """Reject a ``/v1/messages`` (or ``count_tokens``) body the real API would refuse.

    Returns the body (as a dict) when it is acceptable; raises `RequestRejectedError`.
    """
    if not isinstance(body, dict):
        raise _invalid("Request body must be a JSON object")
    allowed = COUNT_TOKENS_KEYS if count_tokens else MESSAGES_KEYS
    required = ("model", "messages") if count_tokens else ("model", "max_tokens", "messages")
    for key in required:
        if key not in body:
            raise _invalid(f"{key}: Field required")
    for key in body:
        if key not in allowed:
            raise _invalid(f"{key}: Extra inputs are not permitted")
    if not isinstance(body["model"], str) or not body["model"]:
        raise _invalid("model: Input should be a valid string")
    if not count_tokens:
        max_tokens = body["max_tokens"]
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            raise _invalid("max_tokens: Input should be a valid integer")
        if max_tokens < 1:
            raise _invalid("max_tokens: Input should be greater than or equal to 1")
    if body.get("temperature") is not None and body.get("top_p") is not None:
        raise _invalid(
            "`temperature` and `top_p` cannot both be specified for this model. "
            "Please use only one."
        )
    _validate_messages(body["messages"])
    _validate_system_and_tools(body)
    markers = count_cache_markers(body)
    if markers > MAX_CACHE_MARKERS:
        raise _invalid(
            f"A maximum of {MAX_CACHE_MARKERS} blocks with cache_control may be provided. "
            f"Found {markers}."
        )
    return body


# --------------------------------------------------------------------------------------------
# Prompt-cache simulation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheUsage:
    """How a request's input splits between cache reads, cache writes and the rest."""

    read: int = 0
    creation: int = 0
    creation_1h: int = 0


@dataclass(frozen=True)
class _Segment:
    text: str
    marker: JSONDict | None


def _canonical(kind: str, value: Any) -> str:
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k != "cache_control"}
    return kind + ":" + json.dumps(value, separators=(",", ":"), sort_keys=True)


def _nested_marker(block: JSONDict) -> JSONDict | None:
    marker = block.get("cache_control")
    if isinstance(marker, dict):
        return marker
    if block.get("type") == "tool_result":
        for inner in _blocks(block.get("content")):
            inner_marker = inner.get("cache_control")
            if isinstance(inner_marker, dict):
                return inner_marker
    return None


def _segments(body: Mapping[str, Any]) -> list[_Segment]:
    """Serialise tools, system, then message blocks, in the order the API caches them."""
    segments: list[_Segment] = []
    for tool in body.get("tools") or []:
        segments.append(_Segment(_canonical("tool", tool), _nested_marker(tool)))
    system = body.get("system")
    if isinstance(system, str):
        segments.append(_Segment(_canonical("system", system), None))
    elif isinstance(system, list):
        for block in system:
            segments.append(_Segment(_canonical("system", block), _nested_marker(block)))
    for message in body.get("messages") or []:
        role = str(message.get("role"))
        for block in _blocks(message.get("content")):
            segments.append(_Segment(_canonical(role, block), _nested_marker(block)))
    automatic = body.get("cache_control")
    if isinstance(automatic, dict) and segments and segments[-1].marker is None:
        segments[-1] = _Segment(segments[-1].text, automatic)
    return segments


class PromptCacheSimulator:
    """Remembers the hashes of cached prefixes and splits each request's input tokens.

    A request's cacheable prefix runs up to its last ``cache_control`` marker. The longest
    earlier-cached prefix found at or up to `CACHE_LOOKBACK_BLOCKS` blocks before any of its
    markers is read from the cache; the rest of the cacheable prefix is written. Every marked
    prefix is then remembered. Prefixes shorter than ``min_tokens`` are never cached.
    """

    def __init__(self, min_tokens: int = 0) -> None:
        self.min_tokens = min_tokens
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget every cached prefix."""
        with self._lock:
            self._seen.clear()

    def account(self, body: Mapping[str, Any]) -> CacheUsage:
        """Return the cache split for ``body`` and remember its marked prefixes."""
        segments = _segments(body)
        marked = [i for i, segment in enumerate(segments) if segment.marker is not None]
        if not marked:
            return CacheUsage()
        last = marked[-1]
        digest = hashlib.sha256(str(body.get("model")).encode())
        hashes: list[str] = []
        tokens: list[int] = []
        chars = 0
        for segment in segments[: last + 1]:
            encoded = segment.text.encode()
            digest.update(len(encoded).to_bytes(8, "big") + encoded)
            hashes.append(digest.copy().hexdigest())
            chars += len(segment.text)
            tokens.append(chars // 4)
        cacheable = tokens[last]
        if cacheable < self.min_tokens or cacheable == 0:
            return CacheUsage()
        candidates = sorted(
            {j for m in marked for j in range(max(0, m - CACHE_LOOKBACK_BLOCKS + 1), m + 1)},
            reverse=True,
        )
        with self._lock:
            read = next((tokens[j] for j in candidates if hashes[j] in self._seen), 0)
            for m in marked:
                if tokens[m] >= self.min_tokens:
                    self._seen.add(hashes[m])
        creation = cacheable - read
        last_marker = segments[last].marker or {}
        one_hour = creation if last_marker.get("ttl") == "1h" else 0
        return CacheUsage(read=read, creation=creation, creation_1h=one_hour)


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _Handler(LoopbackHandler):
    """A request to the fake, which may be answered as a stream of server-sent events."""

    server_version = "FakeAnthropic/1.0"
    timeout = 30

    def start_sse(self, headers: Mapping[str, str]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def send_event(self, event: str, data: JSONDict) -> None:
        frame = f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
        self.wfile.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
        self.wfile.flush()

    def end_sse(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _text_chunks(text: str, parts: int = 3) -> list[str]:
    """Split ``text`` into up to ``parts`` non-empty chunks."""
    if not text:
        return []
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------


class FakeAnthropic(LoopbackServer):
    """A loopback Anthropic Messages API, scripted per test.

    Use as a context manager, or call `start` and `stop`. Pass `base_url` to
    ``anthropic.Anthropic(base_url=..., api_key=...)``. Script replies with `reply_text`,
    `reply_tool_use`, `reply_error`, `reply_stream_error` or `enqueue`; they are consumed in
    order, one per accepted ``/v1/messages`` request. When none is left, `default` answers if
    set, otherwise the request gets a 500 ``api_error`` (with ``x-should-retry: false``) saying
    `NO_SCRIPTED_RESPONSE`. Every request is recorded in `requests`; problems inside the fake
    (an exhausted script, a responder that raised) are also listed in `failures`.

    ``api_key``: when given, only that key is accepted; otherwise any non-empty key is.
    ``cache_simulation``: simulate prompt caching from ``cache_control`` markers.
    ``cache_min_tokens``: prefixes shorter than this many (estimated) tokens are not cached.
    """

    known_paths: ClassVar[tuple[str, ...]] = (MESSAGES_PATH, COUNT_TOKENS_PATH)
    handler_class = _Handler

    def __init__(
        self,
        *,
        api_key: str | None = None,
        cache_simulation: bool = True,
        cache_min_tokens: int = 0,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.cache_simulation = cache_simulation
        self.cache = PromptCacheSimulator(min_tokens=cache_min_tokens)
        self.default: Responder | None = None
        self.requests: list[RecordedRequest] = []
        self.failures: list[str] = []
        self._queue: list[Scripted] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    # -- lifecycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop serving and drop open (keep-alive or streaming) connections."""
        super().stop()
        self._drop_connections()

    # -- scripting ---------------------------------------------------------------------------

    def enqueue(self, item: Scripted) -> None:
        """Queue a reply, or a callable that computes one from the parsed request body."""
        with self._lock:
            self._queue.append(item)

    def reply_text(
        self,
        text: str,
        *,
        usage: UsageArg = None,
        stop_reason: str | None = None,
        delay_seconds: float = 0.0,
    ) -> MessageSpec:
        """Queue a reply with a single text block."""
        spec = MessageSpec(
            content=[TextSpec(text)],
            stop_reason=stop_reason,
            usage=_as_usage(usage),
            delay_seconds=delay_seconds,
        )
        self.enqueue(spec)
        return spec

    def reply_tool_use(
        self,
        name: str,
        input: JSONDict,
        *,
        text_before: str | None = None,
        tool_use_id: str | None = None,
        usage: UsageArg = None,
        delay_seconds: float = 0.0,
    ) -> MessageSpec:
        """Queue a reply calling tool ``name`` with ``input`` (optionally after some text)."""
        tool = ToolUseSpec(name, dict(input))
        if tool_use_id is not None:
            tool.id = tool_use_id
        content: list[ContentSpec] = [TextSpec(text_before)] if text_before else []
        content.append(tool)
        spec = MessageSpec(content=content, usage=_as_usage(usage), delay_seconds=delay_seconds)
        self.enqueue(spec)
        return spec

    def reply_error(
        self,
        status: int,
        error_type: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        *,
        delay_seconds: float = 0.0,
    ) -> ErrorSpec:
        """Queue an HTTP error response (e.g. ``529, "overloaded_error", "Overloaded"``)."""
        spec = ErrorSpec(
            status, error_type, message, dict(headers or {}), delay_seconds=delay_seconds
        )
        self.enqueue(spec)
        return spec

    def reply_stream_error(
        self,
        error_type: str = "overloaded_error",
        message: str = "Overloaded",
        *,
        text_before: str = "",
        status: int = 529,
    ) -> MessageSpec:
        """Queue a reply that fails mid-stream with an ``event: error`` frame.

        A streaming request first receives ``text_before`` (if any); a non-streaming request
        receives the error as an HTTP ``status`` response.
        """
        content: list[ContentSpec] = [TextSpec(text_before)] if text_before else []
        spec = MessageSpec(content=content, stream_error=ErrorSpec(status, error_type, message))
        self.enqueue(spec)
        return spec

    @property
    def pending(self) -> int:
        """How many scripted replies have not been consumed yet."""
        with self._lock:
            return len(self._queue)

    def reset(self) -> None:
        """Drop the script, the recorded requests, the failures and the simulated cache."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.failures.clear()
        self.cache.reset()

    # -- inspection --------------------------------------------------------------------------

    def wait_for_requests(
        self, n: int, timeout: float = 5.0, *, path: str | None = None
    ) -> list[RecordedRequest]:
        """Wait until at least ``n`` requests (to ``path``, if given) arrived; return them.

        Raises `TimeoutError` when the deadline passes first.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                matching = [r for r in self.requests if path is None or r.path == path]
                if len(matching) >= n:
                    return matching
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"fake anthropic: expected {n} request(s)"
                        f"{f' to {path}' if path else ''}, got {len(matching)} in {timeout}s"
                    )
                self._changed.wait(min(remaining, 0.05))

    @property
    def message_requests(self) -> list[RecordedRequest]:
        """The recorded ``POST /v1/messages`` requests."""
        with self._lock:
            return [r for r in self.requests if r.path == MESSAGES_PATH]

    # -- request handling --------------------------------------------------------------------

    def _handle(self, handler: LoopbackHandler) -> None:
        assert isinstance(handler, _Handler)  # our handler_class, with the SSE helpers
        raw = handler.read_body()
        path = handler.path.split("?", 1)[0]
        try:
            body: Any = json.loads(raw) if raw else None
            parse_error = False
        except ValueError:
            body, parse_error = None, True
        request = RecordedRequest(
            method=handler.command,
            path=path,
            headers=CaseInsensitiveDict(dict(handler.headers.items())),
            body=body,
            raw_body=raw,
            request_id=_new_id("req"),
        )
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()
        try:
            if path not in self.known_paths:
                raise RequestRejectedError(
                    ErrorSpec(404, "not_found_error", f"Not found: {handler.command} {path}")
                )
            if handler.command != "POST":
                raise RequestRejectedError(
                    ErrorSpec(405, "invalid_request_error", f"Method not allowed: {path}")
                )
            self._check_headers(request.headers)
            if parse_error:
                raise _invalid("There was an error parsing the body of your request: bad JSON")
            if path == COUNT_TOKENS_PATH:
                validate_request(body, count_tokens=True)
                self._send_json(
                    handler, request, 200, {"input_tokens": estimate_input_tokens(body)}
                )
                return
            validate_request(body)
            reply = self._next_reply(body)
        except RequestRejectedError as rejected:
            self._send_error(handler, request, rejected.spec)
            return
        self._answer(handler, request, body, reply)

    def _check_headers(self, headers: CaseInsensitiveDict) -> None:
        authorization = headers.get("authorization", "")
        key = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
        key = key or headers.get("x-api-key", "").strip()
        if not key:
            raise RequestRejectedError(
                ErrorSpec(
                    401,
                    "authentication_error",
                    "missing credentials: send `Authorization: Bearer <key>` or `x-api-key`",
                )
            )
        if self.api_key is not None and key != self.api_key:
            raise RequestRejectedError(ErrorSpec(401, "authentication_error", "invalid x-api-key"))
        if not headers.get("anthropic-version"):
            raise _invalid("anthropic-version: header is required")

    def _next_reply(self, body: JSONDict) -> Reply:
        with self._lock:
            item: Scripted | None = self._queue.pop(0) if self._queue else self.default
        if item is None:
            self._fail(NO_SCRIPTED_RESPONSE)
            raise RequestRejectedError(
                ErrorSpec(500, "api_error", NO_SCRIPTED_RESPONSE, {"x-should-retry": "false"})
            )
        if isinstance(item, MessageSpec | ErrorSpec):
            return item
        try:
            result = item(body)
        except Exception as exc:
            message = f"fake anthropic: responder raised {exc!r}"
            self._fail(message)
            raise RequestRejectedError(
                ErrorSpec(500, "api_error", message, {"x-should-retry": "false"})
            ) from exc
        if isinstance(result, str):
            return MessageSpec(content=[TextSpec(result)])
        return result

    def _fail(self, message: str) -> None:
        with self._lock:
            self.failures.append(message)

    def _answer(
        self, handler: _Handler, request: RecordedRequest, body: JSONDict, reply: Reply
    ) -> None:
        if reply.delay_seconds > 0:
            time.sleep(reply.delay_seconds)
        if isinstance(reply, ErrorSpec):
            self._send_error(handler, request, reply)
            return
        streaming = body.get("stream") is True
        if reply.stream_error is not None and not streaming:
            self._send_error(handler, request, reply.stream_error)
            return
        message = self._message_json(reply, body)
        headers = {"request-id": request.request_id, **reply.headers}
        try:
            if streaming:
                self._stream(handler, reply, message, headers)
            else:
                handler.send_json(200, message, headers)
        except OSError:
            handler.close_connection = True

    def _send_json(
        self, handler: _Handler, request: RecordedRequest, status: int, payload: JSONDict
    ) -> None:
        with contextlib.suppress(OSError):
            handler.send_json(status, payload, {"request-id": request.request_id})

    def _send_error(self, handler: _Handler, request: RecordedRequest, spec: ErrorSpec) -> None:
        headers = {"request-id": request.request_id, **spec.headers}
        try:
            handler.send_json(spec.status, spec.body(request.request_id), headers)
        except OSError:
            handler.close_connection = True

    def _usage_json(self, reply: MessageSpec, body: JSONDict) -> JSONDict:
        cache = self.cache.account(body) if self.cache_simulation else CacheUsage()
        total = estimate_input_tokens(body)
        explicit = reply.usage or UsageSpec()
        read = _pick(explicit.cache_read_input_tokens, cache.read)
        creation = _pick(explicit.cache_creation_input_tokens, cache.creation)
        one_hour = min(cache.creation_1h, creation)
        output_text = json.dumps([block.to_json() for block in reply.content])
        return {
            "input_tokens": _pick(explicit.input_tokens, max(total - read - creation, 0)),
            "cache_creation_input_tokens": creation,
            "cache_read_input_tokens": read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": creation - one_hour,
                "ephemeral_1h_input_tokens": one_hour,
            },
            "output_tokens": _pick(explicit.output_tokens, max(1, estimate_tokens(output_text))),
            "service_tier": "standard",
        }

    def _message_json(self, reply: MessageSpec, body: JSONDict) -> JSONDict:
        return {
            "id": _new_id("msg"),
            "type": "message",
            "role": "assistant",
            "model": reply.model or body["model"],
            "content": [block.to_json() for block in reply.content],
            "stop_reason": reply.resolved_stop_reason,
            "stop_sequence": reply.stop_sequence,
            "stop_details": None,
            "usage": self._usage_json(reply, body),
            "container": None,
        }

    def _stream(
        self, handler: _Handler, reply: MessageSpec, message: JSONDict, headers: JSONDict
    ) -> None:
        usage: JSONDict = message["usage"]
        pause = reply.chunk_delay_seconds

        def send(event: str, data: JSONDict) -> None:
            handler.send_event(event, {"type": event, **data})
            if pause > 0:
                time.sleep(pause)

        handler.start_sse(headers)
        start_usage = {**usage, "output_tokens": 1}
        send(
            "message_start",
            {
                "message": {
                    **message,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                }
            },
        )
        send("ping", {})
        for index, block in enumerate(reply.content):
            if isinstance(block, TextSpec):
                send("content_block_start", {"index": index, "content_block": _start_of(block)})
                for chunk in _text_chunks(block.text):
                    delta = {"type": "text_delta", "text": chunk}
                    send("content_block_delta", {"index": index, "delta": delta})
            else:
                send("content_block_start", {"index": index, "content_block": _start_of(block)})
                arguments = json.dumps(block.input)  # a long input arrives in many deltas
                for chunk in ["", *_text_chunks(arguments, parts=max(3, len(arguments) // 200))]:
                    delta = {"type": "input_json_delta", "partial_json": chunk}
                    send("content_block_delta", {"index": index, "delta": delta})
            is_last = index == len(reply.content) - 1
            if not (is_last and reply.stream_error is not None):
                send("content_block_stop", {"index": index})
        if reply.stream_error is not None:
            send("error", {"error": reply.stream_error.error_json()})
            handler.end_sse()
            return
        delta_usage = {
            key: usage[key]
            for key in (
                "input_tokens",
                "cache_creation_input_tokens",
                "cache_read_input_tokens",
                "output_tokens",
            )
        }
        send(
            "message_delta",
            {
                "delta": {
                    "stop_reason": message["stop_reason"],
                    "stop_sequence": message["stop_sequence"],
                    "stop_details": None,
                },
                "usage": delta_usage,
            },
        )
        send("message_stop", {})
        handler.end_sse()


def _pick(explicit: int | None, computed: int) -> int:
    return computed if explicit is None else explicit


def _start_of(block: ContentSpec) -> JSONDict:
    """The ``content_block`` of a ``content_block_start`` event (empty text / input)."""
    if isinstance(block, TextSpec):
        return {"type": "text", "text": ""}
    return {"type": "tool_use", "id": block.id, "name": block.name, "input": {}}


# --------------------------------------------------------------------------------------------
# Driving Claude Code (the CLI bundled with claude-agent-sdk)
# --------------------------------------------------------------------------------------------

#: Tools whose presence marks a request as Claude Code's own agent loop (not a side request).
CLAUDE_CODE_LOOP_TOOLS = frozenset({"Read", "Edit", "Write", "Bash"})

ClaudeCodeStep: TypeAlias = "ToolUseSpec | str | Callable[[JSONDict], MessageSpec]"


@dataclass
class ToolResultSeen:
    """A tool result Claude Code sent back to the model: what a command or edit came to."""

    tool_use_id: str
    content: str
    is_error: bool


class ClaudeCodeScript:
    """A responder (``fake.default = script``) that drives Claude Code through fixed steps.

    Each request of Claude Code's agent loop (it offers Read/Edit/Write/Bash) gets the next
    step: a `ToolUseSpec` (``"{cwd}"`` in its string inputs becomes the session's working
    directory), a final text, or a callable computing the reply. Other requests Claude Code
    may make (titles, summaries) get a short text. Once the steps run out, the loop gets
    `final_text`. Every tool result Claude Code sends back is kept in `results`.
    """

    def __init__(
        self,
        steps: list[ClaudeCodeStep],
        *,
        final_text: str = "Done.",
        usage: UsageArg = None,
        delay_seconds: float = 0.0,
    ) -> None:
        self.steps = list(steps)
        self.final_text = final_text
        self.usage = usage
        self.delay_seconds = delay_seconds
        self.results: list[ToolResultSeen] = []
        self.loop_requests = 0
        self._lock = threading.Lock()
        self._seen_results: set[str] = set()

    @staticmethod
    def is_agent_loop(body: Mapping[str, Any]) -> bool:
        """Whether the request comes from Claude Code's agent loop."""
        names = {tool.get("name") for tool in body.get("tools") or [] if isinstance(tool, dict)}
        return bool(names & CLAUDE_CODE_LOOP_TOOLS)

    @staticmethod
    def working_directory(body: Mapping[str, Any]) -> str:
        """The session's working directory, as Claude Code tells the model."""
        text = json.dumps(body.get("system")) + json.dumps(body.get("messages"))
        marker = "orking directory: "
        start = text.find(marker)
        if start < 0:
            return ""
        rest = text[start + len(marker) :]
        end = min((i for i in (rest.find("\\n"), rest.find('"')) if i >= 0), default=len(rest))
        return rest[:end].strip()

    def __call__(self, body: JSONDict) -> MessageSpec:
        if not self.is_agent_loop(body):
            return MessageSpec(content=[TextSpec("ok")])
        self._collect_results(body)
        with self._lock:
            self.loop_requests += 1
            step: ClaudeCodeStep = self.steps.pop(0) if self.steps else self.final_text
        if callable(step) and not isinstance(step, ToolUseSpec):
            return step(body)
        if isinstance(step, str):
            content: list[ContentSpec] = [TextSpec(step)]
        else:
            cwd = self.working_directory(body)
            tool_input = {
                key: value.replace("{cwd}", cwd) if isinstance(value, str) else value
                for key, value in step.input.items()
            }
            content = [ToolUseSpec(step.name, tool_input)]
        return MessageSpec(
            content=content, usage=_as_usage(self.usage), delay_seconds=self.delay_seconds
        )

    def _collect_results(self, body: JSONDict) -> None:
        for message in body.get("messages") or []:
            if message.get("role") != "user" or not isinstance(message.get("content"), list):
                continue
            for block in message["content"]:
                if not isinstance(block, dict) or block.get("type") != "tool_result":
                    continue
                tool_use_id = str(block.get("tool_use_id"))
                with self._lock:
                    if tool_use_id in self._seen_results:
                        continue
                    self._seen_results.add(tool_use_id)
                    content = block.get("content")
                    text = (
                        content
                        if isinstance(content, str)
                        else "\n".join(
                            str(part.get("text", ""))
                            for part in content or []
                            if isinstance(part, dict)
                        )
                    )
                    self.results.append(
                        ToolResultSeen(tool_use_id, text, bool(block.get("is_error")))
                    )
