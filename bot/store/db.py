"""Database engines, sessions and migrations."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import QueuePool, StaticPool
from sqlalchemy.sql import ClauseElement, Insert, Update
from sqlmodel import Session

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SUPPORTED_DRIVERS = ("sqlite", "sqlite+pysqlite", "postgresql+psycopg")
URL_EXAMPLES = "sqlite:///agentdesk.db, or postgresql+psycopg://user:password@host:5432/dbname"

_VERSION_TABLE = "alembic_version"

log = logging.getLogger(__name__)


class DatabaseUrlError(ValueError):
    """DATABASE_URL can't be used; the message says why, `fix` what to do."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


def is_transient(error: BaseException) -> bool:
    """Whether a database error may well pass if the same work is tried again shortly: no
    free connection in time, a locked SQLite file, a dropped or restarting server."""
    if isinstance(error, PoolTimeoutError | OperationalError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain `postgresql://` or `postgres://` URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def parse_url(url: str) -> URL:
    """The parsed URL, or DatabaseUrlError saying what is wrong with it and what to use."""
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError:
        raise DatabaseUrlError(
            f"DATABASE_URL {url!r} is not a database URL", f"Use {URL_EXAMPLES}."
        ) from None
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise DatabaseUrlError(
            f"DATABASE_URL uses {parsed.drivername}, which agentdesk does not support",
            f"Use SQLite or PostgreSQL: {URL_EXAMPLES}.",
        )
    database = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:"):
        folder = Path(database).expanduser().parent
        if not folder.is_dir():
            raise DatabaseUrlError(
                f"DATABASE_URL names a SQLite file in {folder}, a folder that does not exist",
                f"Create the folder (mkdir -p {folder}) or point DATABASE_URL elsewhere.",
            )
    return parsed


DEFAULT_POOL_SIZE = 20  # DATABASE_POOL_SIZE's default


def make_engine(url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> Engine:
    """An engine for the URL; SQLite gets WAL, a busy timeout and foreign keys. A server
    database keeps `pool_size` connections open and opens no more: a connection opened and
    closed per request (an overflowing pool) costs the server a new backend each time.

    Raises DatabaseUrlError for a URL agentdesk can't use (see `parse_url`).
    """
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(
            parsed, pool_pre_ping=True, pool_size=pool_size, max_overflow=0, pool_timeout=60
        )
    in_memory = (parsed.database or "") in ("", ":memory:")
    engine = create_engine(
        parsed,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=StaticPool if in_memory else None,
    )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


def ack_engine(engine: Engine) -> Engine | None:
    """A second engine on the same database with a pool of its own, for the short writes
    that must not queue behind the rest (None for an in-memory SQLite database)."""
    if isinstance(engine.pool, StaticPool):
        return None
    size = engine.pool.size() if isinstance(engine.pool, QueuePool) else DEFAULT_POOL_SIZE
    return make_engine(engine.url.render_as_string(hide_password=False), pool_size=size)


def alembic_config(engine: Engine) -> "Config":
    """An Alembic configuration that migrates the given engine."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Alembic's options go through ConfigParser interpolation: a `%` (in a password) must be
    # doubled or it raises.
    url = engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to `revision` (the latest by default) and log one line saying
    what that changed; alembic's line per migration stays at DEBUG."""
    from alembic import command

    before = current_revision(engine)
    stamps: list[ClauseElement] = []

    def count_stamp(_connection: Any, clause: ClauseElement, *_args: Any) -> None:
        # Alembic records each migration it applies in its version table. Counted as they
        # happen: a process that waited while another migrated the database applied none.
        if isinstance(clause, Insert | Update) and clause.table.description == _VERSION_TABLE:
            stamps.append(clause)

    event.listen(engine, "before_execute", count_stamp)
    try:
        command.upgrade(alembic_config(engine), revision)
    finally:
        event.remove(engine, "before_execute", count_stamp)
    after = current_revision(engine) or "no migrations"
    if not stamps:
        log.info("database schema is current (%s)", after)
        return
    log.info(
        "database migrated from %s to %s (%d migration%s)",
        before or "an empty schema",
        after,
        len(stamps),
        "" if len(stamps) == 1 else "s",
    )


def head_revision() -> str | None:
    """The newest migration revision shipped with this code."""
    from alembic.script import ScriptDirectory

    config = alembic_config(make_engine("sqlite://"))
    return ScriptDirectory.from_config(config).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    with engine.connect() as connection:
        if not engine.dialect.has_table(connection, "alembic_version"):
            return None
        row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
        return str(row[0]) if row else None


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def ping(*, engine: Engine) -> bool:
    """Whether the database answers a trivial query (on a connection of its own, for
    readiness: it runs in no caller's transaction)."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True


def describe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(normalise_url(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return "an unreadable DATABASE_URL"


__all__ = [
    "DatabaseUrlError",
    "current_revision",
    "describe_url",
    "head_revision",
    "make_engine",
    "normalise_url",
    "parse_url",
    "ping",
    "session_scope",
    "upgrade",
]
