"""Stores before the ack have a connection pool of their own."""

from pathlib import Path

from sqlalchemy import text

from bot.store.db import ack_engine, make_engine


def test_the_ack_engine_has_its_own_pool_on_the_same_database(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'desk.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (7)"))
    acks = ack_engine(engine)
    assert acks is not None and acks.pool is not engine.pool
    held = [engine.connect() for _ in range(engine.pool.size())]  # type: ignore[attr-defined]
    try:
        with acks.connect() as connection:  # still answers with the main pool checked out
            assert connection.execute(text("SELECT x FROM t")).scalar() == 7
    finally:
        for connection in held:
            connection.close()
        acks.dispose()
        engine.dispose()


def test_an_in_memory_database_keeps_its_one_connection() -> None:
    assert ack_engine(make_engine("sqlite://")) is None
