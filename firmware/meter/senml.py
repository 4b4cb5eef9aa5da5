"""Meter readings as SenML packs in CBOR (RFC 8428, integer labels), the format documented in docs/senml.md.

encode(kid, readings) -> bytes
    kid: the device's key id (bytes); readings: a sequence of
    (time_s, seq, energy_wh, energy_out_wh, power_w, credit_wh) tuples of ints, oldest first.
    The first record carries the base name `urn:dev:kid:<kid hex>:` and the base time (the first reading's
    time); each reading starts with its `seq` record, whose `t` is relative to the base time when non-zero.

The gateway's parser lives in enerlectra/senml.py; tests check that both produce the same bytes.
"""

from binascii import hexlify

from meter import cbor

try:
    from micropython import const
except ImportError:  # CPython, in tests

    def const(value):
        return value


# SenML CBOR labels (RFC 8428 section 6).
BASE_NAME = const(-2)
BASE_TIME = const(-3)
NAME = const(0)
UNIT = const(1)
VALUE = const(2)
TIME = const(6)

READINGS_PER_PACK_MAX = const(256)

# Name and unit of each measurement, in the order of a reading tuple after (time_s, seq).
MEASUREMENTS = (("energy", "Wh"), ("energy_out", "Wh"), ("power", "W"), ("credit", "Wh"))


def base_name(kid):
    return "urn:dev:kid:" + hexlify(kid).decode() + ":"


def encode(kid, readings):
    if not 0 < len(readings) <= READINGS_PER_PACK_MAX:
        raise ValueError("a pack holds 1 to %d readings" % READINGS_PER_PACK_MAX)
    base_time = readings[0][0]
    records = []
    for reading in readings:
        if len(reading) != 6:
            raise ValueError("a reading has 6 fields")
        seq_record = {NAME: "seq", VALUE: reading[1]}
        if not records:
            seq_record[BASE_NAME] = base_name(kid)
            seq_record[BASE_TIME] = base_time
        elif reading[0] != base_time:
            seq_record[TIME] = reading[0] - base_time
        records.append(seq_record)
        for index in range(4):
            name, unit = MEASUREMENTS[index]
            records.append({NAME: name, UNIT: unit, VALUE: reading[2 + index]})
    return cbor.dumps(records)
