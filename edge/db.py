"""The gateway's SQLite database: one file, WAL mode, every commit durable (synchronous=FULL).

`make_engine(path)` is the one place connections are configured; `create_schema(engine)` creates every table
declared with SQLModel anywhere in `edge` (import the table modules first, as `open_database` does).
"""

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine


def make_engine(path: str | Path) -> Engine:
    """An engine on the SQLite file at `path`; each connection runs WAL with full fsync on commit."""
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit survives power loss once it returns; the meter deletes a reading when we ACK it.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    return engine


def create_schema(engine: Engine) -> None:
    SQLModel.metadata.create_all(engine)
