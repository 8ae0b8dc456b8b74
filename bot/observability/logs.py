"""Logging: plain text or JSON (LOG_FORMAT), the conversation id on every line of a turn,
and secrets masked wherever they would appear."""

import contextvars
import functools
import logging
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any, TextIO, TypeVar, cast

CONVERSATION_ID: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "conversation_id", default=None
)

# Slack tokens, Anthropic keys and signing-secret-like hex, as they look in the wild.
_SECRET_SHAPES = re.compile(
    r"\b(xox[abposr]-[A-Za-z0-9-]{4,}|xapp-[A-Za-z0-9-]{4,}|sk-ant-[A-Za-z0-9_-]{8,})"
)
_MASK = "[secret]"
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(conversation)s: %(message)s"

F = TypeVar("F", bound=Callable[..., Any])


def conversation_scope(function: F) -> F:
    """Decorate a method taking a turn (`work`, with `conversation_id`) first: that id goes on
    every log line written while it runs, in this thread."""

    @functools.wraps(function)
    def wrapper(self: Any, work: Any, *args: Any, **kwargs: Any) -> Any:
        token = CONVERSATION_ID.set(work.conversation_id)
        try:
            return function(self, work, *args, **kwargs)
        finally:
            CONVERSATION_ID.reset(token)

    return cast(F, wrapper)


class ConversationFilter(logging.Filter):
    """Puts `conversation_id` on every record (None outside a turn)."""

    def filter(self, record: logging.LogRecord) -> bool:
        conversation = CONVERSATION_ID.get()
        record.conversation_id = conversation
        record.conversation = f" [conversation {conversation}]" if conversation else ""
        return True


class SecretMask:
    """Masks the configured secrets, and anything shaped like a Slack token or an API key."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def mask(self, text: str) -> str:
        """The text with every secret replaced."""
        for secret in self.secrets:
            text = text.replace(secret, _MASK)
        return _SECRET_SHAPES.sub(_MASK, text)


class MaskingFormatter(logging.Formatter):
    """Formats with another formatter, then masks secrets in the finished line: message,
    arguments, traceback and extra fields alike."""

    def __init__(self, inner: logging.Formatter, mask: SecretMask) -> None:
        super().__init__()
        self.inner = inner
        self.secret_mask = mask

    def format(self, record: logging.LogRecord) -> str:
        return self.secret_mask.mask(self.inner.format(record))


def configure_logging(
    *,
    log_format: str = "text",
    secrets: Iterable[str] = (),
    level: int = logging.INFO,
    stream: TextIO | None = None,
) -> logging.Handler:
    """One handler on the root logger, text or JSON, conversation ids on, secrets masked."""
    handler = logging.StreamHandler(stream or sys.stderr)
    inner: logging.Formatter
    if log_format == "json":
        from pythonjsonlogger.core import RESERVED_ATTRS
        from pythonjsonlogger.json import JsonFormatter

        inner = JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(conversation_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            reserved_attrs=[*RESERVED_ATTRS, "conversation"],
        )
    else:
        inner = logging.Formatter(_TEXT_FORMAT)
    handler.setFormatter(MaskingFormatter(inner, SecretMask(secrets)))
    handler.addFilter(ConversationFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets itself to DEBUG
    # Library chatter at every start: alembic's plugin list and dialect notes, APScheduler's
    # job bookkeeping. That this process runs the scheduler stays; what was migrated is one
    # line from `bot.store.db.upgrade`, alembic's line per migration goes down to DEBUG.
    for chatty in ("alembic.runtime.plugins", "apscheduler"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    migration = logging.getLogger("alembic.runtime.migration")
    if not any(isinstance(f, _MigrationNotes) for f in migration.filters):
        migration.addFilter(_MigrationNotes())
    return handler


class _MigrationNotes(logging.Filter):
    """Drops alembic's notes on the dialect ("Context impl …", "Will assume …") and turns its
    line per migration ("Running upgrade 0003 -> 0004, …") into a DEBUG line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith(("Context impl", "Will assume")):
            return False
        if record.levelno == logging.INFO and record.getMessage().startswith("Running "):
            record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True
