"""Meter readings as SenML packs in CBOR (RFC 8428, integer labels), the format documented in docs/senml.md.

encode(kid, readings) -> bytes
    kid: the device's key id (bytes); readings: a sequence of
    (time_s, seq, energy_wh, energy_out_wh, power_w, credit_wh[, depletion_s]) tuples of ints, oldest first.
    The first record carries the base name `urn:dev:kid:<kid hex>:`, the base time (the first reading's
    time) and the base unit "Wh" (records in Wh omit their own unit); each reading starts with its `seq`
    record, whose `t` is relative to the base time when non-zero; `energy_out` is left out while it is 0, and
    only the newest reading carries its forecast.
sign1(kid, readings, seed32) -> memoryview
    cose.sign1(encode(kid, readings), seed32, kid), byte for byte: what the meter sends (written into one buffer,
    then signed where its payload lies in it: the payload is never held twice).

Both are meter/pack.py's writer, which the running meter uses for its outbox: one SenML encoder in the firmware.
The gateway's parser lives in enerlectra/senml.py; tests check that both sides agree byte for byte.
"""

import struct

from meter import pack


def _records(readings):
    # The readings as pack.RECORD structs, the form the outbox keeps them in.
    records = bytearray(len(readings) * pack.RECORD_SIZE)
    for index, reading in enumerate(readings):
        if len(reading) not in (6, 7):
            raise ValueError("a reading has 6 or 7 fields")
        forecast = reading[6] if len(reading) == 7 and reading[6] is not None else pack.NO_FORECAST
        struct.pack_into(pack.RECORD, records, index * pack.RECORD_SIZE, *reading[:6], forecast)
    return records


def _packer(kid, seed32, readings):
    if not 0 < len(readings) <= pack.READINGS_MAX:
        raise ValueError("a pack holds 1 to %d readings" % pack.READINGS_MAX)
    return pack.Packer(kid, seed32, len(readings))


def encode(kid, readings):
    packer = _packer(kid, None, readings)
    records = _records(readings)
    size = 0
    for piece in packer.senml(records, len(readings)):
        size += len(piece)
    out = bytearray(size)
    pos = 0
    for piece in packer.senml(records, len(readings)):
        out[pos : pos + len(piece)] = piece
        pos += len(piece)
    return bytes(out)


def sign1(kid, readings, seed32):
    packer = _packer(kid, seed32, readings)
    room = packer.room(len(readings))  # first: the largest allocation of a send, while the heap has room in one piece
    return packer.signed(_records(readings), len(readings), room)
