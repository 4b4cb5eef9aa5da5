"""Stored readings: every accepted reading, and the raw signed message it came in, kept for audit.

One signed message (a COSE_Sign1 the meter sent) carries one or more readings; `store_batch` writes a batch of
accepted messages, their readings and the meters' running totals in ONE transaction, so a crash leaves either
all of a batch or none of it. The primary key (meter_id, seq) makes double storage of a reading impossible.
"""

import hashlib
import sqlite3
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from enerlectra.invariant import invariant
from enerlectra.senml import Reading


class SignedMessage(SQLModel, table=True):
    __tablename__ = "signed_message"
    digest: str = Field(primary_key=True)  # SHA-256 of the raw bytes, hex
    meter_id: str = Field(foreign_key="meter.meter_id", index=True)
    raw: bytes
    received_at_ms: int


class StoredReading(SQLModel, table=True):
    __tablename__ = "reading"
    meter_id: str = Field(foreign_key="meter.meter_id", primary_key=True)
    seq: int = Field(primary_key=True)
    time_s: int
    energy_wh: int
    energy_out_wh: int
    power_w: int
    credit_wh: int
    depletion_s: int | None = None  # the meter's forecast of time until its credit runs out
    message_digest: str = Field(foreign_key="signed_message.digest")


@dataclass(frozen=True, slots=True)
class AcceptedMessage:
    """A message whose signature verified and whose readings are all newer than anything stored."""

    meter_id: str
    raw: bytes
    digest: str
    readings: list[Reading]
    received_at_ms: int


def digest_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# Plain DB-API statements on the hot path: SQLAlchemy's per-row work would cost more than the fsync it shares.
_INSERT_MESSAGE = "INSERT INTO signed_message (digest, meter_id, raw, received_at_ms) VALUES (?, ?, ?, ?)"
_INSERT_READING = (
    "INSERT INTO reading (meter_id, seq, time_s, energy_wh, energy_out_wh, power_w, credit_wh, depletion_s,"
    " message_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_TOTALS = (
    "UPDATE meter SET readings = readings + ?, last_seq = ?, last_time_s = ?, energy_wh = ?, energy_out_wh = ?,"
    " power_w = ?, credit_wh = ?, depletion_s = ? WHERE meter_id = ?"
)


def store_batch(engine: Engine, batch: list[AcceptedMessage]) -> None:
    """Durably commits every message of `batch` (or none of them) on a connection from `engine`."""
    connection = engine.raw_connection()
    try:
        write_batch(connection.driver_connection, batch)
    finally:
        connection.close()


def write_batch(connection: sqlite3.Connection, batch: list[AcceptedMessage]) -> None:
    """Durably commits every message of `batch` (or none of them); returns only after the commit.

    Takes the DB-API connection itself: the ingest writer keeps one open rather than checking one out of the
    pool per batch.
    """
    invariant(len(batch) > 0, "write_batch needs at least one message")
    messages = []
    rows = []
    totals: dict[str, tuple] = {}
    for message in batch:
        messages.append((message.digest, message.meter_id, message.raw, message.received_at_ms))
        for r in message.readings:
            rows.append((message.meter_id, r.seq, r.time_s, r.energy_wh, r.energy_out_wh, r.power_w, r.credit_wh,
                         r.depletion_s, message.digest))
        latest = message.readings[-1]
        previous = totals.get(message.meter_id)
        invariant(previous is None or previous[1] < latest.seq, "batch holds a meter's seqs out of order")
        added = (previous[0] if previous else 0) + len(message.readings)
        totals[message.meter_id] = (added, latest.seq, latest.time_s, latest.energy_wh, latest.energy_out_wh,
                                    latest.power_w, latest.credit_wh, latest.depletion_s, message.meter_id)
    try:
        connection.executemany(_INSERT_MESSAGE, messages)
        connection.executemany(_INSERT_READING, rows)
        updated = connection.executemany(_UPDATE_TOTALS, list(totals.values())).rowcount
        invariant(updated == len(totals), "every meter of the batch must exist")
        connection.commit()
    except BaseException:
        connection.rollback()
        raise


def is_stored(engine: Engine, digest: str) -> bool:
    with Session(engine) as session:
        return session.get(SignedMessage, digest) is not None


def recent_readings(engine: Engine, meter_id: str, limit: int) -> list[StoredReading]:
    with Session(engine) as session:
        statement = (
            select(StoredReading)
            .where(StoredReading.meter_id == meter_id)
            .order_by(StoredReading.seq.desc())
            .limit(limit)
        )
        return list(session.exec(statement))
