"""Counts failed Slack Web API calls by method, from inside the SDK's request loop."""

from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.observability.metrics import SLACK_API_ERRORS


class ErrorCounter(RetryHandler):
    """A retry handler that never retries: the SDK shows it every response and connection
    error, so it counts the failures (`ok: false`, HTTP errors, dropped connections).
    Put it first: the SDK stops asking handlers once one retries."""

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        method = request.url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
        if response is not None and response.status_code >= 400:
            SLACK_API_ERRORS.labels(method=method, error=f"http_{response.status_code}").inc()
        elif response is not None and (response.body or {}).get("ok") is False:
            error_code = str((response.body or {}).get("error"))
            SLACK_API_ERRORS.labels(method=method, error=error_code).inc()
        elif error is not None:
            SLACK_API_ERRORS.labels(method=method, error=type(error).__name__).inc()
        return False
