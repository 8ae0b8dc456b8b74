"""Readiness for `GET /readyz`: the database answers and is migrated, and agents are loaded.

`GET /healthz` (liveness: the process and its database answer) lives beside the Slack
endpoint; orchestrators route traffic by this one.
"""

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.store.db import head_revision

if TYPE_CHECKING:
    from bot.engine.desk import Desk
    from bot.runtime.worker_processes import WorkerProcesses


def readiness(
    desk: "Desk", *, head: str | None, workers: "WorkerProcesses | None" = None
) -> dict[str, Any]:
    """Each readiness check with its state; `ready` is true when all pass. The worker
    processes are reported, not checked: while one restarts, requests are still stored and
    acknowledged, and wait for it."""
    checks: dict[str, Any] = {}
    try:
        revision = desk.database_revision()
    except Exception as error:
        checks["database"] = f"unreachable: {type(error).__name__}"
    else:
        checks["database"] = "ok" if revision == head else f"at {revision}, needs {head}"
    agents = len(desk.roster())
    checks["agents"] = "ok" if agents else "none loaded"
    checks["agents_loaded"] = agents
    if workers is not None:
        checks["worker_processes"] = f"{workers.alive()} of {workers.count} running"
    ready = checks["database"] == "ok" and checks["agents"] == "ok"
    return {"ready": ready, **checks}


def readiness_endpoint(
    desk: "Desk", workers: "WorkerProcesses | None" = None
) -> Callable[[Request], Awaitable[Response]]:
    """The `GET /readyz` handler: 200 when ready, 503 with the failing checks otherwise."""
    head = head_revision()

    async def readyz(_: Request) -> Response:
        state = await run_in_threadpool(readiness, desk, head=head, workers=workers)
        return JSONResponse(state, status_code=200 if state["ready"] else 503)

    return readyz
