"""Meter readings as SenML packs in CBOR (RFC 8428, integer labels); the format is in docs/senml.md.

parse_readings(payload, kid) -> list[Reading]
    Validates the whole pack and returns its readings in pack order (strictly increasing seq).
    Raises WireError naming the first problem; nothing is returned for a partly valid pack.
encode_readings(kid, readings) -> bytes
    The exact bytes the firmware's meter/senml.py and meter/pack.py write for the same readings (tests check it):
    the first record carries the base unit "Wh" (bu), so records in Wh omit their own unit; `energy_out` is left
    out while it is 0, and only the newest reading carries its forecast (`depletion_s`; earlier ones' are left out).
"""

from dataclasses import dataclass

import cbor2

from enerlectra.errors import WireError

BASE_NAME = -2
BASE_UNIT = -4
BASE_TIME = -3
NAME = 0
UNIT = 1
VALUE = 2
TIME = 6
LABELS = frozenset((BASE_NAME, BASE_TIME, BASE_UNIT, NAME, UNIT, VALUE, TIME))
MEASUREMENT_LABELS = frozenset((NAME, UNIT, VALUE))  # a measurement has no time or base fields of its own

# Name and unit of each measurement every reading carries, in Reading's field order after time_s and seq.
MEASUREMENTS = (("energy", "Wh"), ("energy_out", "Wh"), ("power", "W"), ("credit", "Wh"))
# A pack leaves this record out while its value is 0: the cumulative export of a meter that has never exported (most
# households) is 15 of a reading's 70 bytes, and without it a pack of 32 readings crosses in 2 CoAP blocks, not 3.
OMITTED_WHEN_ZERO = "energy_out"
# Optional last record of a reading: the meter's own forecast of the time until its credit runs out. A forecast is
# about now: a pack carries the newest reading's only (21 bytes a reading would put a pack of 32 in three CoAP blocks
# again); the parser accepts one on any reading.
DEPLETION = ("depletion", "s")
# The base unit packs carry in their first record: records in Wh omit their own unit (RFC 8428 section 4.1).
PACK_BASE_UNIT = "Wh"
RECORDS_PER_READING_MIN = len(MEASUREMENTS)  # seq and the measurements, without the one omitted when 0
RECORDS_PER_READING_MAX = RECORDS_PER_READING_MIN + 2  # with it, and with the forecast
READINGS_PER_PACK_MAX = 256  # a day's backlog crosses in a handful of packs
VALUE_MAX = 2**53  # beyond any real meter; keeps values exact in any JSON consumer
TIME_MIN_S = 0
TIME_MAX_S = 2**40


@dataclass(frozen=True, slots=True)
class Reading:
    time_s: int
    seq: int
    energy_wh: int
    energy_out_wh: int
    power_w: int
    credit_wh: int
    depletion_s: int | None = None  # None: the meter had no forecast (too little history, or no model)


def base_name(kid: bytes) -> str:
    return f"urn:dev:kid:{kid.hex()}:"


def encode_readings(kid: bytes, readings: list[Reading]) -> bytes:
    if not 0 < len(readings) <= READINGS_PER_PACK_MAX:
        raise ValueError(f"a pack holds 1 to {READINGS_PER_PACK_MAX} readings")
    base_time = readings[0].time_s
    records: list[dict] = []
    newest = readings[-1]
    for reading in readings:
        seq_record: dict = {NAME: "seq", VALUE: reading.seq}
        if not records:
            seq_record |= {BASE_NAME: base_name(kid), BASE_TIME: base_time, BASE_UNIT: PACK_BASE_UNIT}
        elif reading.time_s != base_time:
            seq_record[TIME] = reading.time_s - base_time
        records.append(seq_record)
        values = (reading.energy_wh, reading.energy_out_wh, reading.power_w, reading.credit_wh)
        for (name, unit), value in zip(MEASUREMENTS, values, strict=True):
            if name == OMITTED_WHEN_ZERO and value == 0:
                continue
            record = {NAME: name, VALUE: value}
            if unit != PACK_BASE_UNIT:
                record[UNIT] = unit
            records.append(record)
        if reading is newest and reading.depletion_s is not None:
            records.append({NAME: DEPLETION[0], UNIT: DEPLETION[1], VALUE: reading.depletion_s})
    return cbor2.dumps(records, canonical=True)


def _integer(record: dict, label: int, what: str, low: int, high: int) -> int:
    value = record.get(label)
    # bool is an int in Python but not in CBOR: refuse it (cbor2 makes no other subclass of int).
    if type(value) is not int:
        raise WireError(f"{what} must be an integer")
    if not low <= value <= high:
        raise WireError(f"{what} {value} out of range {low}..{high}")
    return value


def _measurement(records: list, position: int, name: str, unit: str, base_unit: str | None) -> int:
    if position >= len(records):
        raise WireError(f"SenML pack ends before the {name!r} record of a reading")
    record = records[position]
    # A record without its own unit has the pack's base unit (RFC 8428 section 4.1).
    if record.get(NAME) != name or record.get(UNIT, base_unit) != unit:
        raise WireError(f"SenML record {position} must be {name!r} in {unit}")
    if not MEASUREMENT_LABELS.issuperset(record):
        raise WireError(f"SenML record {position} must not carry its own time or base")
    return _integer(record, VALUE, name, 0, VALUE_MAX)


def parse_readings(payload: bytes, kid: bytes) -> list[Reading]:
    try:
        records = cbor2.loads(payload)
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError) as err:
        raise WireError(f"SenML payload is not CBOR: {err}") from err
    if not isinstance(records, list) or not records:
        raise WireError("SenML pack must be a non-empty array of records")
    if len(records) > READINGS_PER_PACK_MAX * RECORDS_PER_READING_MAX:
        raise WireError(f"SenML pack holds more than {READINGS_PER_PACK_MAX} readings")
    for index, record in enumerate(records):
        if not isinstance(record, dict) or not LABELS.issuperset(record):
            raise WireError(f"SenML record {index} must be a map with integer labels -3..6")

    first = records[0]
    if first.get(BASE_NAME) != base_name(kid):
        raise WireError(f"SenML base name must be {base_name(kid)!r}, the signing meter's")
    base_time = _integer(first, BASE_TIME, "base time", TIME_MIN_S, TIME_MAX_S)
    base_unit = first.get(BASE_UNIT)
    if base_unit is not None and not isinstance(base_unit, str):
        raise WireError("SenML base unit must be text")

    readings: list[Reading] = []
    position = 0
    while position < len(records):
        if len(readings) == READINGS_PER_PACK_MAX:
            raise WireError(f"SenML pack holds more than {READINGS_PER_PACK_MAX} readings")
        seq_record = records[position]
        if seq_record.get(NAME) != "seq":
            raise WireError(f"SenML record {position} must be the 'seq' record of a reading")
        if position and (BASE_NAME in seq_record or BASE_TIME in seq_record or BASE_UNIT in seq_record):
            raise WireError("SenML base fields belong in the first record only")
        offset = seq_record.get(TIME, 0)
        if type(offset) is not int:
            raise WireError(f"SenML record {position} time must be an integer")
        time_s = base_time + offset
        if not TIME_MIN_S <= time_s <= TIME_MAX_S:
            raise WireError(f"SenML record {position} time out of range")
        seq = _integer(seq_record, VALUE, "seq", 0, VALUE_MAX)
        position += 1
        values = []
        for name, unit in MEASUREMENTS:
            if name == OMITTED_WHEN_ZERO and (position == len(records) or records[position].get(NAME) != name):
                values.append(0)  # left out: 0 (an explicit 0 is accepted too)
                continue
            values.append(_measurement(records, position, name, unit, base_unit))
            position += 1
        depletion_s = None
        if position < len(records) and records[position].get(NAME) == DEPLETION[0]:
            depletion_s = _measurement(records, position, *DEPLETION, base_unit)
            position += 1
        reading = Reading(time_s, seq, *values, depletion_s)
        if readings and reading.seq <= readings[-1].seq:
            raise WireError("SenML readings must have strictly increasing seq")
        readings.append(reading)
    return readings
