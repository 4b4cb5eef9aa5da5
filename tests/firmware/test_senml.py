"""The meter's SenML packs: the same bytes as the gateway's encoder, and readable by its parser."""

import json

from enerlectra.senml import Reading, encode_readings, parse_readings

KID = bytes.fromhex("a1b2c3d4")
READINGS = [
    Reading(time_s=1_790_000_000, seq=7, energy_wh=123_456, energy_out_wh=0, power_w=640, credit_wh=5_000),
    Reading(time_s=1_790_000_060, seq=8, energy_wh=123_467, energy_out_wh=2, power_w=655, credit_wh=4_989),
    Reading(time_s=1_790_000_060, seq=9, energy_wh=123_467, energy_out_wh=2, power_w=0, credit_wh=4_989),
]
FORECASTS = [  # readings with the meter's forecast: a pack carries the newest one's only
    Reading(1_790_000_000, 7, 123_456, 0, 640, 5_000, depletion_s=28_000),
    Reading(1_790_000_060, 8, 123_467, 0, 655, 4_989, depletion_s=27_500),
]


def test_firmware_pack_is_byte_identical_to_gateway_encoding_and_parses_back(micropython):
    tuples = [list(vars_of(reading)) for reading in READINGS]
    code = f"""
from meter import senml
print(senml.encode({KID!r}, {json.dumps(tuples)}).hex())
"""
    pack = bytes.fromhex(micropython.run(code).stdout.strip())
    assert pack == encode_readings(KID, READINGS)
    assert parse_readings(pack, KID) == READINGS


def test_firmware_pack_with_forecasts_carries_the_newest_like_the_gateway_encoder(micropython):
    tuples = [[*vars_of(reading), reading.depletion_s] for reading in FORECASTS]
    code = f"""
from meter import senml
print(senml.encode({KID!r}, {json.dumps(tuples)}).hex())
"""
    pack = bytes.fromhex(micropython.run(code).stdout.strip())
    assert pack == encode_readings(KID, FORECASTS)
    assert [reading.depletion_s for reading in parse_readings(pack, KID)] == [None, 27_500]


def test_single_reading_pack_carries_base_name_time_and_unit_in_first_record():
    import cbor2

    encoded = encode_readings(KID, READINGS[:1])
    records = cbor2.loads(encoded)
    assert records[0] == {-2: "urn:dev:kid:a1b2c3d4:", -3: 1_790_000_000, -4: "Wh", 0: "seq", 2: 7}
    assert records[1:] == [
        {0: "energy", 2: 123_456},
        {0: "power", 1: "W", 2: 640},  # energy_out is left out while it is 0
        {0: "credit", 2: 5_000},
    ]
    assert encoded == cbor2.dumps(records, canonical=True)
    # Canonical key order, length-first: n, v, then bn (0x21), bt (0x22), bu (0x23).
    assert encoded[1:3] == b"\xa5\x00" and b"\x22\x1a" in encoded and encoded.index(b"\x23\x62Wh") < 50


def vars_of(reading):
    return (reading.time_s, reading.seq, reading.energy_wh, reading.energy_out_wh, reading.power_w,
            reading.credit_wh)
