"""The reference bot: the smallest Bolt app that answers a mention the way agentdesk does.

Run by the benchmarks as its own process (not a benchmark itself):
    .venv/bin/python bench/reference_bot.py --port PORT --slack-url URL
        [--model-url URL --database FILE]

Without `--model-url` it only acks (`bench/ack.py`'s baseline). With it, each `app_mention`
is acked at once and answered behind the ack in a 32-thread pool: the event id goes into a
SQLite dedupe table (a repeat is dropped), one model call with one agent's system prompt
(the body of agents/backend-feature-developer.md) is made with the `anthropic` SDK, and the
answer is posted in the thread with one `chat.postMessage`. Both variants serve Bolt behind
the same Starlette route shape and uvicorn as `agentdesk serve` (the body read, the Bolt
dispatch in Starlette's thread pool). It imports nothing of agentdesk's.
"""

import argparse
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

SECRET = "bench-signing-secret"  # the same as served.SECRET: the bench signs for both
AGENT_FILE = Path(__file__).resolve().parent.parent / "agents" / "backend-feature-developer.md"
MODEL = "claude-sonnet-5-5"  # agentdesk's MODEL_DEFAULT
MAX_TOKENS = 8192  # agentdesk's MODEL_MAX_TOKENS
POOL_THREADS = 32
QUESTIONS_TOOL = {
    "name": "ask_clarifying_questions",
    "description": "Ask the requester a few questions before answering.",
    "input_schema": {
        "type": "object",
        "properties": {
            "intro": {"type": "string"},
            "questions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "question": {"type": "string"},
                        "choices": {"type": "array", "items": {"type": "string"}},
                    },
                    "required": ["question"],
                },
            },
        },
        "required": ["questions"],
    },
}


def agent_prompt(path: Path = AGENT_FILE) -> str:
    """An agent file's body: what follows its front matter."""
    text = path.read_text()
    if text.startswith("---"):
        _, _, text = text[3:].partition("\n---")
    return text.strip()


class SeenEvents:
    """A SQLite table of the event ids already taken, one connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        with self._connection() as connection:
            connection.execute("CREATE TABLE IF NOT EXISTS seen_events (event_id TEXT PRIMARY KEY)")

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=30)
            connection.execute("PRAGMA journal_mode=WAL")
            self._local.connection = connection
        return connection

    def first_time(self, event_id: str) -> bool:
        """Note the event id; True unless it was there already."""
        with self._connection() as connection:
            inserted = connection.execute(
                "INSERT OR IGNORE INTO seen_events (event_id) VALUES (?)", (event_id,)
            )
            return inserted.rowcount == 1


def answer_text(content: list[Any]) -> str:
    """The model's answer as thread text: its text blocks, and any questions it asks."""
    lines: list[str] = []
    for block in content:
        if block.type == "text":
            lines.append(block.text)
        elif block.type == "tool_use":
            lines.append(str(block.input.get("intro", "")))
            for number, item in enumerate(block.input.get("questions", []), start=1):
                choices = " / ".join(item.get("choices", []))
                lines.append(f"{number}. {item['question']}" + (f" ({choices})" if choices else ""))
    return "\n".join(line for line in lines if line) or "(no answer)"


def serve(*, port: int, slack_url: str, model_url: str | None, database: Path | None) -> None:
    """Serve the reference bot on 127.0.0.1:`port` until stopped."""
    import uvicorn
    from slack_bolt import App, BoltRequest
    from slack_sdk import WebClient
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    bolt = App(
        signing_secret=SECRET,
        client=WebClient(token="xoxb-test", base_url=slack_url),
        token_verification_enabled=False,
        # Answering: POOL_THREADS listeners at once; only acking: Bolt's default (5).
        listener_executor=ThreadPoolExecutor(max_workers=POOL_THREADS) if model_url else None,
    )
    if model_url is None:

        @bolt.event("app_mention")
        def _ignore() -> None:
            pass

    else:
        import anthropic

        assert database is not None
        model = anthropic.Anthropic(api_key="test-key", base_url=model_url)
        seen = SeenEvents(database)
        system = agent_prompt()

        @bolt.event("app_mention")
        def _answer(body: dict[str, Any], event: dict[str, Any], client: WebClient) -> None:
            if not seen.first_time(body["event_id"]):
                return
            reply = model.messages.create(
                model=MODEL,
                max_tokens=MAX_TOKENS,
                system=system,
                messages=[{"role": "user", "content": event["text"]}],
                tools=[QUESTIONS_TOOL],  # type: ignore[list-item]
            )
            client.chat_postMessage(
                channel=event["channel"],
                thread_ts=event.get("thread_ts") or event["ts"],
                text=answer_text(list(reply.content)),
            )

    async def events(request: Request) -> Response:
        raw = await request.body()
        bolt_request = BoltRequest(
            body=raw.decode(), query=str(request.query_params), headers=dict(request.headers)
        )
        response = await run_in_threadpool(bolt.dispatch, bolt_request)
        return Response(
            status_code=response.status,
            content=response.body,
            headers=response.first_headers_without_set_cookie(),
        )

    async def healthz(_: Request) -> Response:
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[
            Route("/slack/events", events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slack-url", required=True)
    parser.add_argument("--model-url", help="answer mentions with this model API (else only ack)")
    parser.add_argument("--database", type=Path, help="the SQLite dedupe file (with --model-url)")
    args = parser.parse_args()
    if args.model_url and args.database is None:
        parser.error("--model-url needs --database")
    serve(
        port=args.port, slack_url=args.slack_url, model_url=args.model_url, database=args.database
    )


if __name__ == "__main__":
    main()
