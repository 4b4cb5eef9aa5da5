"""Ingest: verify a meter's signed message, refuse replays, and answer only once it is durably stored.

`IngestService.submit(raw)` is what every transport (CoAP today) calls. It returns an `Ingested` once the
readings are committed to disk, or raises one of:
  WireError        malformed CBOR / COSE / SenML              (CoAP 4.00)
  UnknownMeterError  no meter registered under the kid         (CoAP 4.01)
  SignatureError   the signature does not verify                (CoAP 4.01)
  ReplayError      a sequence number already used or older      (CoAP 4.09)
  OverloadedError  the write queue is full; retry later         (CoAP 5.03)
  StoreError       the database refused the batch               (CoAP 5.00)
On every error nothing is stored. The same signed bytes sent again (a retransmission after a lost ACK, from a
new CoAP exchange) are acknowledged again and stored once.

Group commit: messages accepted within a few milliseconds go to disk together in one transaction, so a
durable commit (an fsync) is shared by many readings; each sender is answered after the commit that holds
its message.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from nacl.signing import VerifyKey
from sqlalchemy.engine import Engine

from edge.meters import find_meter_by_kid, list_meters
from edge.readings import AcceptedMessage, digest_of, is_stored, write_batch
from enerlectra.cose import decode_sign1, verify_sign1
from enerlectra.senml import parse_readings

QUEUE_MESSAGES_MAX = 4096  # beyond this a burst is told to come back (5.03) rather than held in RAM
BATCH_MESSAGES_MAX = 1024  # one transaction; bounds the time a commit holds the writer
BATCH_GATHER_MESSAGES = 64  # below this many waiting, wait BATCH_GATHER_S for more before writing
BATCH_GATHER_S = 0.005  # invisible next to a meter's once-a-minute reading and CoAP's 2 s ACK timeout

_log = logging.getLogger(__name__)


class UnknownMeterError(LookupError):
    """No meter is registered under this kid."""


class ReplayError(ValueError):
    """The message's sequence number was already used by this meter, with different content."""


class OverloadedError(RuntimeError):
    """More messages are waiting for the disk than the gateway holds in memory."""


class StoreError(RuntimeError):
    """The database did not commit the batch; nothing of it was stored."""


@dataclass(frozen=True, slots=True)
class Ingested:
    meter_id: str
    readings_stored: int  # 0 for a duplicate of a message already stored
    last_seq: int


@dataclass(slots=True)
class _MeterState:
    meter_id: str
    verify_key: VerifyKey
    last_seq: int  # the highest seq stored or on its way to disk


class IngestService:
    def __init__(self, engine: Engine, clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000):
        self._engine = engine
        self._clock_ms = clock_ms
        self._meters: dict[bytes, _MeterState] = {}
        self._queue: list[tuple[AcceptedMessage, asyncio.Future]] = []
        self._in_flight: dict[str, asyncio.Future] = {}
        self._wake = asyncio.Event()
        self._connection = None
        self._writer: asyncio.Task | None = None

    async def start(self) -> None:
        # Know every registered meter up front: first contact then costs no database query.
        for meter in list_meters(self._engine):
            self._meters[bytes.fromhex(meter.kid)] = _MeterState(
                meter.meter_id, VerifyKey(bytes.fromhex(meter.public_key)), meter.last_seq
            )
        self._connection = self._engine.raw_connection()
        self._writer = asyncio.create_task(self._write_forever(), name="ingest-writer")

    async def stop(self) -> None:
        """Finishes writing what was accepted, then stops the writer."""
        if self._writer is not None:
            while self._queue:
                self._wake.set()
                await asyncio.sleep(0.01)
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        if self._connection is not None:
            self._connection.close()

    async def submit(self, raw: bytes) -> Ingested:
        sign1 = decode_sign1(raw)
        meter = self._meter_for(sign1.kid)
        verify_sign1(sign1, meter.verify_key)
        readings = parse_readings(sign1.payload, sign1.kid)
        digest = digest_of(raw)

        if readings[0].seq <= meter.last_seq:
            pending = self._in_flight.get(digest)
            if pending is not None:  # the same bytes are on their way to disk: answer when they land
                await asyncio.shield(pending)
                return Ingested(meter.meter_id, 0, meter.last_seq)
            if is_stored(self._engine, digest):
                return Ingested(meter.meter_id, 0, meter.last_seq)
            raise ReplayError(f"seq {readings[0].seq} already used; last accepted is {meter.last_seq}")
        if len(self._queue) >= QUEUE_MESSAGES_MAX:
            raise OverloadedError("gateway busy writing; retry later")

        # Reserve the seqs now, so a second message with the same seq is refused while this one is in flight.
        meter.last_seq = readings[-1].seq
        accepted = AcceptedMessage(meter.meter_id, raw, digest, readings, self._clock_ms())
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._in_flight[digest] = future
        self._queue.append((accepted, future))
        self._wake.set()
        try:
            await future
        finally:
            self._in_flight.pop(digest, None)
        return Ingested(meter.meter_id, len(readings), readings[-1].seq)

    def forget_meter(self, kid: bytes) -> None:
        """Drop the cached state of a meter, e.g. after its registration changed."""
        self._meters.pop(kid, None)

    def _meter_for(self, kid: bytes) -> _MeterState:
        state = self._meters.get(kid)
        if state is None:
            # Meters registered while the gateway runs (CLI or HTTP) are found on first contact.
            meter = find_meter_by_kid(self._engine, kid.hex())
            if meter is None:
                raise UnknownMeterError(f"no meter registered with kid {kid.hex()}")
            state = _MeterState(meter.meter_id, VerifyKey(bytes.fromhex(meter.public_key)), meter.last_seq)
            self._meters[kid] = state
        return state

    async def _write_forever(self) -> None:
        # Writes on the event loop itself. A writer thread was measured slower on the one-core budget (GIL
        # hand-offs cost more than the commit); the loop only stalls for one commit (an fsync) per batch.
        while True:
            await self._wake.wait()
            self._wake.clear()
            # Let a few more messages join: one commit and one thread hand-off then serve them all.
            if len(self._queue) < BATCH_GATHER_MESSAGES:
                await asyncio.sleep(BATCH_GATHER_S)
            while self._queue:
                batch = self._queue[:BATCH_MESSAGES_MAX]
                del self._queue[:BATCH_MESSAGES_MAX]
                messages = [message for message, _ in batch]
                try:
                    write_batch(self._connection.driver_connection, messages)
                except Exception:  # the disk or database failed: every message of the batch fails
                    # Logged with its traceback: an operating failure the operator must see.
                    _log.exception("storing a batch of %d messages failed", len(batch))
                    # Reserved seqs are no longer true: re-read them from the database on next contact.
                    self._meters.clear()
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(StoreError("could not store readings; retry"))
                    continue
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
