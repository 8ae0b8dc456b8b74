"""HTTP mode: one URL for events, commands and interactivity, plus a health check."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.engine.desk import Desk
from bot.scheduler import SchedulerService
from bot.slack.app import SlackApp
from bot.slack.request import SlackRequest

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


def build_http_app(
    slack: SlackApp, desk: Desk, *, scheduler: SchedulerService | None = None
) -> Starlette:
    """The ASGI app behind `agentdesk serve`; the worker (and an in-process scheduler) start
    and stop with it."""

    async def slack_events(request: Request) -> Response:
        body = (await request.body()).decode("utf-8", errors="replace")
        bolt_request = SlackRequest(
            body=body, query=str(request.query_params), headers=dict(request.headers)
        )
        bolt_response = await run_in_threadpool(slack.app.dispatch, bolt_request)
        return Response(
            status_code=bolt_response.status,
            content=bolt_response.body,
            headers=bolt_response.first_headers_without_set_cookie(),
        )

    async def healthz(_: Request) -> Response:
        def database_answers() -> bool:
            try:
                with desk.engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                return True
            except Exception:
                log.exception("health check: the database does not answer")
                return False

        healthy = await run_in_threadpool(database_answers)
        return JSONResponse(
            {"ok": healthy, "database": "ok" if healthy else "unreachable"},
            status_code=200 if healthy else 503,
        )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
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
            await run_in_threadpool(slack.worker.stop)
            if slack.services.implementation is not None:  # implementation runs
                await run_in_threadpool(slack.services.implementation.stop)

    return Starlette(
        routes=[
            Route(EVENTS_PATH, slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
