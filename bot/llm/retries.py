"""When to try a model call again, and how long to wait first.

The SDK runs with `max_retries=0`; this is its retry policy made ours, so an SDK upgrade
cannot silently change it, and every wait is capped: SDK 2.x honours `retry-after` without
an upper bound, and a turn must not hang for minutes.
"""

from __future__ import annotations

import email.utils
import random
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import anthropic


_INITIAL_DELAY = 0.5
_MAX_BACKOFF = 8.0


def should_retry(error: anthropic.APIError) -> bool:
    """Whether trying again may help: connection trouble, 408, 409, 429 and 5xx (as the SDK
    does), unless the server says otherwise in `x-should-retry`."""
    import anthropic  # loaded on first use: the SDK takes seconds to import

    if isinstance(error, anthropic.APIConnectionError):
        return True
    if not isinstance(error, anthropic.APIStatusError):
        return False
    override = error.response.headers.get("x-should-retry")
    if override in ("true", "false"):
        return override == "true"
    status = error.status_code
    return status in (408, 409, 429) or status >= 500


def retry_wait(*, error: anthropic.APIError, attempt: int, cap: float) -> float:
    """Seconds to wait before retry number `attempt + 1`: what the server asks for
    (`retry-after-ms`, then `retry-after` as seconds or a date), else exponential backoff
    with jitter; never more than `cap`."""
    asked = _asked_wait(error)
    if asked is None or asked <= 0:
        asked = min(_INITIAL_DELAY * 2.0 ** min(attempt, 30), _MAX_BACKOFF)
        asked *= 1 - 0.25 * random.random()
    return max(0.0, min(asked, cap))


def _asked_wait(error: anthropic.APIError) -> float | None:
    import anthropic  # loaded on first use: the SDK takes seconds to import

    if not isinstance(error, anthropic.APIStatusError):
        return None
    headers = error.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return float(headers.get(name, "")) * scale
        except ValueError:
            continue
    parsed = email.utils.parsedate_tz(headers.get("retry-after", ""))
    return None if parsed is None else email.utils.mktime_tz(parsed) - time.time()
