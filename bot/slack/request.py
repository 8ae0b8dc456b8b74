"""A BoltRequest that reads form bodies correctly even when they contain the word "payload".

Bolt decides a form body is an interactivity payload if the raw text contains "payload"
anywhere, so `/feature add a payload field` parses as `{}` and is answered 404. Here a form
body is a payload only when it has a `payload` field.
"""

import json
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import BoltRequest
from slack_bolt.context.context import BoltContext
from slack_bolt.request.internals import build_context


class SlackRequest(BoltRequest):
    """BoltRequest with a correct form-body parse."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        raw = self.raw_body
        if self.mode != "http" or not raw or raw.startswith("{"):
            return
        if self.content_type == "application/json":
            return
        form = dict(parse_qsl(raw, keep_blank_values=True))
        body = json.loads(form["payload"]) if "payload" in form else form
        if body != self.body:
            self.body = body
            self.context = build_context(BoltContext(dict(self.context)), self.body)

    def to_copyable(self) -> "SlackRequest":
        """A copy for lazy listeners that keeps the correct parse."""
        copied = super().to_copyable()
        return SlackRequest(
            body=copied.raw_body if copied.mode == "http" else copied.body,
            query=copied.query,
            headers=copied.headers,
            context=copied.context,
            mode=copied.mode,
        )
