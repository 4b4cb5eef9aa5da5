"""Meter readings as SenML packs in CBOR (RFC 8428, integer labels), the format documented in docs/senml.md.

encode(kid, readings) -> bytes
    kid: the device's key id (bytes); readings: a sequence of
    (time_s, seq, energy_wh, energy_out_wh, power_w, credit_wh) tuples of ints, oldest first.
    The first record carries the base name `urn:dev:kid:<kid hex>:`, the base time (the first reading's
    time) and the base unit "Wh" (records in Wh omit their own unit); each reading starts with its `seq`
    record, whose `t` is relative to the base time when non-zero; `energy_out` is left out while it is 0.
sign1(kid, readings, seed32) -> bytearray
    cose.sign1(encode(kid, readings), seed32, kid), byte for byte, with half the heap: what the meter sends.

The gateway's parser lives in enerlectra/senml.py; tests check that both produce the same bytes.

Memory: a pack of 256 readings as dicts would take tens of KB. The records are written one by one into a
single buffer instead, sized by a first pass over the readings that only counts bytes.
"""

from binascii import hexlify

from meter import cbor, cose

try:
    from micropython import const
except ImportError:  # CPython, in tests

    def const(value):
        return value


# SenML CBOR labels (RFC 8428 section 6).
BASE_NAME = const(-2)
BASE_TIME = const(-3)
BASE_UNIT = const(-4)
NAME = const(0)
UNIT = const(1)
VALUE = const(2)
TIME = const(6)

READINGS_PER_PACK_MAX = const(256)

# Name and unit of each measurement, in the order of a reading tuple after (time_s, seq).
MEASUREMENTS = (("energy", "Wh"), ("energy_out", "Wh"), ("power", "W"), ("credit", "Wh"))

# Canonical CBOR orders map keys by their encoded bytes: n 0x00, u 0x01, v 0x02, t 0x06, bn 0x21, bt 0x22, bu 0x23.
# The first record carries the base unit "Wh" (bu), so a measurement in Wh is {n, v} and power is {n, u, v}; all
# of a record but the value is the same in every pack: written out here (map head, 0, name as text, [1, unit as
# text,] 2) rather than encoded at import, which left 7 KB of garbage.
_RECORD_PREFIXES = (
    b"\xa2\x00\x66energy\x02",
    b"\xa2\x00\x6aenergy_out\x02",
    b"\xa3\x00\x65power\x01\x61W\x02",
    b"\xa2\x00\x66credit\x02",
)
_SEQ_PREFIX = b"\x00\x63seq\x02"  # a seq record's first key and value, then the key of its value
_BASE_UNIT = b"\x23\x62Wh"  # bu: "Wh", the last key of the first record
_MAP = const(5)


def base_name(kid):
    return "urn:dev:kid:" + hexlify(kid).decode() + ":"


def _write(out, pos, kid, readings):
    """Writes the pack into out at pos (out None: only counts its bytes); returns the position after it."""
    if not 0 < len(readings) <= READINGS_PER_PACK_MAX:
        raise ValueError("a pack holds 1 to %d readings" % READINGS_PER_PACK_MAX)
    put = cbor.put
    base_time = readings[0][0]
    for reading in readings:
        if len(reading) != 6:
            raise ValueError("a reading has 6 fields")
    exports = sum(1 for reading in readings if reading[3])  # energy_out is left out while it is 0
    pos = cbor.put_head(out, pos, 4, 4 * len(readings) + exports)
    first = True
    for reading in readings:
        offset = reading[0] - base_time
        # {n: "seq", v: seq} then bn, bt and bu in the first record, t in a later one at another time.
        pos = cbor.put_head(out, pos, _MAP, 5 if first else 3 if offset else 2)
        pos = put(out, cbor.put_raw(out, pos, _SEQ_PREFIX), reading[1])
        if first:
            pos = put(out, put(out, pos, BASE_NAME), base_name(kid))
            pos = cbor.put_raw(out, put(out, put(out, pos, BASE_TIME), base_time), _BASE_UNIT)
            first = False
        elif offset:
            pos = put(out, put(out, pos, TIME), offset)
        for index in range(4):
            if reading[2 + index] or index != 1:
                pos = put(out, cbor.put_raw(out, pos, _RECORD_PREFIXES[index]), reading[2 + index])
    return pos


def encode(kid, readings):
    out = bytearray(_write(None, 0, kid, readings))
    _write(out, 0, kid, readings)
    return bytes(out)


def sign1(kid, readings, seed32):
    """The signed message cose.sign1(encode(kid, readings), seed32, kid) gives, byte for byte, as a bytearray
    built in one buffer: the pack is written into the message and signed there, never held apart."""
    return cose.sign1_written(
        _write(None, 0, kid, readings), lambda out, pos: _write(out, pos, kid, readings), seed32, kid
    )
