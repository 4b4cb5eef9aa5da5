"""Raw DB-API access for the ledger's hot paths: the ORM stays off them.

`write_transaction` takes SQLite's write lock up front (BEGIN IMMEDIATE) so that reading the chain head and the
balances and appending to the journal happen under one lock, and commits on success or rolls back on any
exception. `read_snapshot` opens a read transaction: in WAL mode every query in it sees the same snapshot.
"""

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine

from edge.ledger.limits import LOOKUP_PARAMETERS_MAX


@contextmanager
def _cursor(engine: Engine) -> Iterator[tuple[sqlite3.Connection, sqlite3.Cursor]]:
    # A pooled connection's DB-API connection and a cursor on it, both given back on the way out.
    connection = engine.raw_connection()
    try:
        database: sqlite3.Connection = connection.driver_connection
        cursor = database.cursor()
        try:
            yield database, cursor
        finally:
            cursor.close()
    finally:
        connection.close()


@contextmanager
def write_transaction(engine: Engine) -> Iterator[sqlite3.Cursor]:
    with _cursor(engine) as (database, cursor):
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield cursor
        except BaseException:
            database.rollback()
            raise
        database.commit()


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[sqlite3.Cursor]:
    with _cursor(engine) as (database, cursor):
        cursor.execute("BEGIN")
        try:
            yield cursor
        finally:
            database.rollback()


def chunks(values: Iterable, size: int = LOOKUP_PARAMETERS_MAX) -> Iterator[list]:
    """`values` in lists of at most `size`, for `IN (...)` lookups under SQLite's host parameter limit."""
    chunk: list = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def placeholders(count: int) -> str:
    return ",".join("?" * count)
