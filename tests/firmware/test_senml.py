"""The meter's SenML packs: the same bytes as the gateway's encoder, and readable by its parser."""

import json

from enerlectra.senml import Reading, encode_readings, parse_readings

KID = bytes.fromhex("a1b2c3d4")
READINGS = [
    Reading(time_s=1_790_000_000, seq=7, energy_wh=123_456, energy_out_wh=0, power_w=640, credit_wh=5_000),
    Reading(time_s=1_790_000_060, seq=8, energy_wh=123_467, energy_out_wh=2, power_w=655, credit_wh=4_989),
    Reading(time_s=1_790_000_060, seq=9, energy_wh=123_467, energy_out_wh=2, power_w=0, credit_wh=4_989),
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


def test_single_reading_pack_carries_base_name_and_time_in_first_record():
    import cbor2

    records = cbor2.loads(encode_readings(KID, READINGS[:1]))
    assert records[0] == {-2: "urn:dev:kid:a1b2c3d4:", -3: 1_790_000_000, 0: "seq", 2: 7}
    assert records[1:] == [
        {0: "energy", 1: "Wh", 2: 123_456},
        {0: "energy_out", 1: "Wh", 2: 0},
        {0: "power", 1: "W", 2: 640},
        {0: "credit", 1: "Wh", 2: 5_000},
    ]


def vars_of(reading):
    return (reading.time_s, reading.seq, reading.energy_wh, reading.energy_out_wh, reading.power_w,
            reading.credit_wh)
