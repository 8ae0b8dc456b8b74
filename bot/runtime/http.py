"""HTTP mode: one URL for events, commands and interactivity, plus health checks.

A request's signature is checked before anything reads its body, and a body that is not
what Slack sends gets a 4xx here, before Bolt: garbage never reaches a listener.
"""

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.engine.desk import Desk
from bot.observability.metrics import SLACK_ACK_SECONDS, metrics_endpoint
from bot.runtime.health import readiness_endpoint
from bot.runtime.scheduler import SchedulerService
from bot.runtime.worker_processes import WorkerProcesses
from bot.slack.app import SlackApp
from bot.slack.payloads import InvalidPayloadError, read_request
from bot.slack.request import SlackRequest

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
MAX_BODY_BYTES = 1_000_000


def build_http_app(
    slack: SlackApp,
    desk: Desk,
    *,
    scheduler: SchedulerService | None = None,
    processes: WorkerProcesses | None = None,
) -> Starlette:
    """The ASGI app behind `agentdesk serve`; the worker (or the worker processes) and an
    in-process scheduler start and stop with it."""
    secret = desk.settings.slack_signing_secret
    verifier = SignatureVerifier(secret.get_secret_value()) if secret is not None else None

    async def slack_events(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return _refuse(413, "request too large")
        headers = dict(request.headers)
        ssl_check = raw.startswith(b"ssl_check=")  # Slack's unsigned certificate probe
        if verifier is not None and not ssl_check and not _signed(verifier, raw, headers):
            return _refuse(401, "invalid request")
        body_text = raw.decode("utf-8", errors="replace")
        try:
            read_request(_parse(body_text, headers.get("content-type", "")))
        except InvalidPayloadError as problem:
            log.info("refused a malformed request: %s", problem)
            return _refuse(400, "invalid payload")
        try:
            bolt_request = SlackRequest(
                body=body_text, query=str(request.query_params), headers=headers
            )
        except (TypeError, KeyError, IndexError, AttributeError, ValueError) as problem:
            # Bolt reads ids from wherever they may be (authorizations, team, view, …) as it
            # builds the request: a shape the checks above let through still gets a 400.
            log.info("refused a request Bolt cannot read: %s", type(problem).__name__)
            return _refuse(400, "invalid payload")
        with SLACK_ACK_SECONDS.time():
            bolt_response = await run_in_threadpool(slack.app.dispatch, bolt_request)
        return Response(
            status_code=bolt_response.status,
            content=bolt_response.body,
            headers=bolt_response.first_headers_without_set_cookie(),
        )

    async def oauth_page(request: Request) -> Response:
        """Bolt's install page and OAuth redirect (OAuth mode), off the event loop."""
        flow = slack.app.oauth_flow
        if flow is None:
            return _refuse(404, "not found")
        bolt_request = to_bolt_request(request, await request.body())
        handle = (
            flow.handle_installation
            if request.url.path == flow.install_path
            else flow.handle_callback
        )
        return to_starlette_response(await run_in_threadpool(handle, bolt_request))

    async def healthz(_: Request) -> Response:
        healthy = await run_in_threadpool(desk.database_answers)
        return JSONResponse(
            {"ok": healthy, "database": "ok" if healthy else "unreachable"},
            status_code=200 if healthy else 503,
        )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if processes is not None:
            processes.start()
        else:
            slack.worker.start()
        if slack.services.implementation is not None:  # implementation runs
            slack.services.implementation.start()
        if scheduler is not None:
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                await run_in_threadpool(scheduler.stop)
            if processes is not None:
                await run_in_threadpool(processes.stop)
            else:
                await run_in_threadpool(slack.worker.stop)
            if slack.services.implementation is not None:  # implementation runs
                await run_in_threadpool(slack.services.implementation.stop)

    oauth_routes = (
        [
            Route(slack.app.oauth_flow.install_path, oauth_page, methods=["GET"]),
            Route(slack.app.oauth_flow.redirect_uri_path, oauth_page, methods=["GET"]),
        ]
        if slack.app.oauth_flow is not None
        else []
    )
    return Starlette(
        routes=[
            Route(EVENTS_PATH, slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            *oauth_routes,
            Route("/readyz", readiness_endpoint(desk, processes), methods=["GET"]),
            Route("/metrics", metrics_endpoint(desk.queue_stats), methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def _parse(body: str, content_type: str) -> Any:
    """The body as Slack meant it: JSON, a form, or a form carrying a JSON `payload`."""
    try:
        if content_type.startswith("application/json") or body.lstrip().startswith("{"):
            return json.loads(body)
        form = dict(parse_qsl(body, keep_blank_values=True))
        return json.loads(form["payload"]) if "payload" in form else form
    except (ValueError, RecursionError) as error:
        raise InvalidPayloadError(f"the body does not parse: {type(error).__name__}") from error


def _signed(verifier: SignatureVerifier, raw: bytes, headers: dict[str, str]) -> bool:
    try:
        return verifier.is_valid_request(raw, headers)
    except ValueError:  # a timestamp header that is not a number
        return False


def _refuse(status: int, error: str) -> Response:
    return JSONResponse({"error": error}, status_code=status)
