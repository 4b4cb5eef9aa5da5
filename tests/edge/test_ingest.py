"""POST /r over real CoAP: verified readings are stored once; every bad message gets its code and stores nothing."""

import asyncio

import aiocoap
import cbor2
import pytest
from nacl.signing import SigningKey
from sqlalchemy import text

from enerlectra.cose import sign1
from enerlectra.senml import encode_readings


async def test_signed_reading_is_acknowledged_stored_and_totals_updated(gateway):
    meter = gateway.register("house-1", bytes.fromhex("a1"))
    response = await gateway.post(meter.message(meter.reading(1, energy_wh=1234)))
    assert response.code == aiocoap.CHANGED
    assert gateway.stored() == (1, 1)
    totals = gateway.meter("house-1")
    assert (totals.last_seq, totals.readings, totals.energy_wh) == (1, 1, 1234)


async def test_batch_of_readings_in_one_message_is_stored_reading_by_reading(gateway):
    meter = gateway.register("house-1", bytes.fromhex("a1"))
    readings = [meter.reading(seq, energy_wh=1000 + seq) for seq in range(1, 201)]
    response = await gateway.post(meter.message(*readings))  # ~4 KB: aiocoap's client sends it block-wise
    assert response.code == aiocoap.CHANGED
    assert gateway.stored() == (1, 200)
    assert (gateway.meter("house-1").last_seq, gateway.meter("house-1").energy_wh) == (200, 1200)


async def test_same_signed_bytes_again_are_acknowledged_but_stored_once(gateway):
    meter = gateway.register("house-1", bytes.fromhex("a1"))
    message = meter.message(meter.reading(1))
    first = await gateway.post(message)
    again = await gateway.post(message)  # a new CoAP exchange: the meter's ACK was lost
    assert (first.code, again.code) == (aiocoap.CHANGED, aiocoap.CHANGED)
    assert gateway.stored() == (1, 1)
    assert gateway.meter("house-1").readings == 1


async def test_concurrent_identical_messages_are_stored_once(gateway):
    meter = gateway.register("house-1", bytes.fromhex("a1"))
    message = meter.message(meter.reading(1))
    responses = await asyncio.gather(*(gateway.ingest.submit(message) for _ in range(5)))
    assert sorted(r.readings_stored for r in responses) == [0, 0, 0, 0, 1]
    assert gateway.stored() == (1, 1)


@pytest.mark.parametrize("replayed_seq", [3, 2])
async def test_used_or_older_seq_with_new_content_is_refused_409(gateway, replayed_seq):
    meter = gateway.register("house-1", bytes.fromhex("a1"))
    assert (await gateway.post(meter.message(meter.reading(3)))).code == aiocoap.CHANGED
    response = await gateway.post(meter.message(meter.reading(replayed_seq, energy_wh=9)))
    assert response.code == aiocoap.CONFLICT
    assert b"already used; last accepted is 3" in response.payload  # meters parse this (docs/senml.md)
    assert gateway.stored() == (1, 1)
    assert gateway.meter("house-1").energy_wh == 1000


async def test_wrong_content_format_is_refused_415(gateway):
    meter = gateway.register("house-1", bytes.fromhex("a1"))
    for content_format in (None, 60):
        response = await gateway.post(meter.message(meter.reading(1)), content_format=content_format)
        assert response.code == aiocoap.UNSUPPORTED_CONTENT_FORMAT
    assert gateway.stored() == (0, 0)


def _tamper_payload(meter):
    message = cbor2.loads(meter.message(meter.reading(1, energy_wh=1)))
    message.value[2] = encode_readings(meter.kid, [meter.reading(1, energy_wh=999_999)])
    return cbor2.dumps(message)


def _signed_by_stranger(meter):
    return sign1(encode_readings(meter.kid, [meter.reading(1)]), SigningKey.generate(), meter.kid)


def _unknown_kid(meter):
    return sign1(encode_readings(b"\xee", [meter.reading(1)]), meter.key, b"\xee")


def _other_meters_base_name(meter):
    return sign1(encode_readings(b"\xb2", [meter.reading(1)]), meter.key, meter.kid)


def _not_a_senml_pack(meter):
    return sign1(cbor2.dumps({"energy": 5}), meter.key, meter.kid)


def _alg_es256(meter):
    message = cbor2.loads(meter.message(meter.reading(1)))
    message.value[0] = cbor2.dumps({1: -7})
    return cbor2.dumps(message)


@pytest.mark.parametrize(
    "make_message, code, reason",
    [
        (_tamper_payload, aiocoap.UNAUTHORIZED, b"signature"),
        (_signed_by_stranger, aiocoap.UNAUTHORIZED, b"signature"),
        (_unknown_kid, aiocoap.UNAUTHORIZED, b"no meter registered"),
        (_other_meters_base_name, aiocoap.BAD_REQUEST, b"base name"),
        (_not_a_senml_pack, aiocoap.BAD_REQUEST, b"SenML"),
        (_alg_es256, aiocoap.BAD_REQUEST, b"EdDSA"),
        (lambda meter: b"\x84\x43\xa1", aiocoap.BAD_REQUEST, b"not CBOR"),
        (lambda meter: cbor2.dumps(cbor2.CBORTag(98, [])), aiocoap.BAD_REQUEST, b"not COSE_Sign1"),
        (lambda meter: b"", aiocoap.BAD_REQUEST, b"CBOR"),
    ],
)
async def test_bad_message_gets_its_code_and_reason_and_stores_nothing(gateway, make_message, code, reason):
    meter = gateway.register("house-1", bytes.fromhex("a1"))
    gateway.register("house-2", bytes.fromhex("b2"))
    response = await gateway.post(make_message(meter))
    assert response.code == code
    assert reason in response.payload
    assert gateway.stored() == (0, 0)
    assert gateway.meter("house-1").last_seq == -1


async def test_database_failure_answers_503_stores_nothing_and_the_retry_succeeds(gateway):
    meter = gateway.register("house-1", bytes.fromhex("a1"))
    with gateway.engine.begin() as connection:  # a real SQLite failure inside the writer's transaction
        connection.execute(
            text("CREATE TRIGGER full BEFORE INSERT ON reading BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        )
    message = meter.message(meter.reading(1))
    failed = await gateway.post(message)
    assert failed.code == aiocoap.SERVICE_UNAVAILABLE
    assert gateway.stored() == (0, 0)
    assert gateway.meter("house-1").last_seq == -1
    with gateway.engine.begin() as connection:
        connection.execute(text("DROP TRIGGER full"))
    assert (await gateway.post(message)).code == aiocoap.CHANGED
    assert gateway.stored() == (1, 1)


async def test_many_meters_at_once_all_land(gateway):
    meters = [gateway.register(f"house-{n}", bytes([n])) for n in range(1, 21)]
    messages = [meter.message(meter.reading(seq)) for meter in meters for seq in (1, 2, 3)]
    results = await asyncio.gather(*(gateway.ingest.submit(m) for m in messages))
    assert sum(r.readings_stored for r in results) == 60
    assert gateway.stored() == (60, 60)
    assert all(gateway.meter(m.meter_id).readings == 3 for m in meters)


async def test_meters_forecast_of_credit_depletion_is_kept_with_its_totals(gateway):
    from enerlectra.senml import Reading

    meter = gateway.register("house-1", bytes.fromhex("a1"))
    with_forecast = Reading(1_790_000_000, 1, 1000, 0, 400, 5000, depletion_s=9 * 3600)
    assert (await gateway.post(meter.message(with_forecast))).code == aiocoap.CHANGED
    assert gateway.meter("house-1").depletion_s == 9 * 3600
    without = meter.reading(2)
    assert (await gateway.post(meter.message(without))).code == aiocoap.CHANGED
    assert gateway.meter("house-1").depletion_s is None  # the latest reading had no forecast
