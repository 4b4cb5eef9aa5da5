"""Stored readings: every accepted reading, and the raw signed message it came in, kept for audit.

One signed message (a COSE_Sign1 the meter sent) carries one or more readings; `store_batch` writes a batch of
accepted messages, their readings and the meters' running totals in ONE transaction, so a crash leaves either
all of a batch or none of it. The primary key (meter_id, seq) makes double storage of a reading impossible.
"""

import hashlib
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, update
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from edge.meters import Meter
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


_meters = Meter.__table__
_UPDATE_TOTALS = (
    update(_meters)
    .where(_meters.c.meter_id == bindparam("b_meter_id"))
    .values(
        last_seq=bindparam("b_last_seq"),
        readings=_meters.c.readings + bindparam("b_added"),
        last_time_s=bindparam("b_time_s"),
        energy_wh=bindparam("b_energy_wh"),
        energy_out_wh=bindparam("b_energy_out_wh"),
        power_w=bindparam("b_power_w"),
        credit_wh=bindparam("b_credit_wh"),
    )
)


def store_batch(engine: Engine, batch: list[AcceptedMessage]) -> None:
    """Durably commits every message of `batch` (or none of them); returns only after the commit."""
    invariant(len(batch) > 0, "store_batch needs at least one message")
    messages = []
    rows = []
    totals: dict[str, dict] = {}
    for message in batch:
        messages.append(
            {"digest": message.digest, "meter_id": message.meter_id, "raw": message.raw,
             "received_at_ms": message.received_at_ms}
        )
        for reading in message.readings:
            rows.append(
                {"meter_id": message.meter_id, "seq": reading.seq, "time_s": reading.time_s,
                 "energy_wh": reading.energy_wh, "energy_out_wh": reading.energy_out_wh,
                 "power_w": reading.power_w, "credit_wh": reading.credit_wh, "message_digest": message.digest}
            )
        latest = message.readings[-1]
        previous = totals.get(message.meter_id)
        invariant(previous is None or previous["b_last_seq"] < latest.seq, "batch holds a meter's seqs out of order")
        totals[message.meter_id] = {
            "b_meter_id": message.meter_id,
            "b_last_seq": latest.seq,
            "b_added": (previous["b_added"] if previous else 0) + len(message.readings),
            "b_time_s": latest.time_s,
            "b_energy_wh": latest.energy_wh,
            "b_energy_out_wh": latest.energy_out_wh,
            "b_power_w": latest.power_w,
            "b_credit_wh": latest.credit_wh,
        }
    with engine.begin() as connection:
        connection.execute(insert(SignedMessage.__table__), messages)
        connection.execute(insert(StoredReading.__table__), rows)
        result = connection.execute(_UPDATE_TOTALS, list(totals.values()))
        invariant(result.rowcount == len(totals), "every meter of the batch must exist")


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
