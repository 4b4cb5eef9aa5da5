"""The gateway's SenML parser refuses every malformed pack with a reason, and never half-parses."""

import cbor2
import pytest

from enerlectra.errors import WireError
from enerlectra.senml import Reading, encode_readings, parse_readings

KID = bytes.fromhex("0102")
GOOD = [Reading(1_790_000_000, 1, 10, 0, 5, 100), Reading(1_790_000_060, 2, 11, 0, 5, 99)]


def mutate(change):
    records = cbor2.loads(encode_readings(KID, GOOD))
    change(records)
    return cbor2.dumps(records)


def test_valid_pack_round_trips():
    assert parse_readings(encode_readings(KID, GOOD), KID) == GOOD


def test_packs_carry_the_base_unit_and_records_in_wh_omit_theirs():
    records = cbor2.loads(encode_readings(KID, GOOD))
    assert records[0] == {-2: "urn:dev:kid:0102:", -3: 1_790_000_000, -4: "Wh", 0: "seq", 2: 1}
    assert records[1:4] == [{0: "energy", 2: 10}, {0: "power", 1: "W", 2: 5}, {0: "credit", 2: 100}]
    assert records[4] == {0: "seq", 2: 2, 6: 60}


def test_energy_out_is_left_out_while_zero_and_read_as_zero():
    exporting = [GOOD[0], Reading(1_790_000_060, 2, 11, 3, 5, 99)]
    records = cbor2.loads(encode_readings(KID, exporting))
    assert [record[0] for record in records] == ["seq", "energy", "power", "credit",
                                                 "seq", "energy", "energy_out", "power", "credit"]
    assert records[6] == {0: "energy_out", 2: 3}
    assert parse_readings(encode_readings(KID, exporting), KID) == exporting

    def explicit_zero(records):  # as firmware before 0.4 sent it
        records.insert(2, {0: "energy_out", 2: 0})
        records.insert(7, {0: "energy_out", 2: 0})

    assert parse_readings(mutate(explicit_zero), KID) == GOOD


def test_base_unit_stands_for_records_without_their_own_unit():
    def explicit_units(records):
        del records[0][-4]
        for record in records:
            if record.get(0) in ("energy", "energy_out", "credit"):
                record[1] = "Wh"

    def other_base_unit(records):
        explicit_units(records)
        records[0][-4] = "W"

    assert parse_readings(mutate(explicit_units), KID) == GOOD  # a pack without bu: every unit its own
    assert parse_readings(mutate(other_base_unit), KID) == GOOD  # explicit units win over the base unit

    def wrong_base_unit(records):
        records[0][-4] = "kWh"

    with pytest.raises(WireError, match="'energy' in Wh"):
        parse_readings(mutate(wrong_base_unit), KID)
    with pytest.raises(WireError, match="first record only"):
        parse_readings(mutate(lambda r: r[4].update({-4: "Wh"})), KID)


def test_a_pack_carries_the_newest_readings_forecast_only():
    forecasts = [Reading(1_790_000_000, 1, 10, 0, 5, 100, depletion_s=7200),
                 Reading(1_790_000_060, 2, 11, 0, 5, 99, depletion_s=7140)]
    records = cbor2.loads(encode_readings(KID, forecasts))
    assert [record[0] for record in records].count("depletion") == 1
    assert records[-1] == {0: "depletion", 1: "s", 2: 7140}
    assert parse_readings(encode_readings(KID, forecasts), KID) == [GOOD[0], forecasts[1]]
    assert parse_readings(encode_readings(KID, forecasts[:1]), KID) == forecasts[:1]
    assert parse_readings(encode_readings(KID, GOOD), KID) == GOOD  # no forecast at all

    def on_every_reading(records):  # as firmware before 0.4.0 sent it
        records.insert(4, {0: "depletion", 1: "s", 2: 7200})
        records.append({0: "depletion", 1: "s", 2: 7140})

    assert parse_readings(mutate(on_every_reading), KID) == forecasts


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda r: r[0].update({-2: "urn:dev:kid:ffff:"}), "base name"),
        (lambda r: r[0].pop(-3), "base time"),
        (lambda r: r[1].update({2: -5}), "out of range"),
        (lambda r: r[1].update({2: 1.5}), "integer"),
        (lambda r: r[1].update({2: True}), "integer"),
        (lambda r: r[2].update({1: "kW"}), "'power' in W"),
        (lambda r: r[4].update({2: 1}), "strictly increasing"),
        (lambda r: r.pop(), "ends before the 'credit' record"),
        (lambda r: r.insert(4, {0: "depletion", 1: "h", 2: 5}), "'depletion' in s"),
        (lambda r: r.insert(2, {0: "depletion", 1: "s", 2: 5}), "'power' in W"),
        (lambda r: r[2].update({99: 1}), "integer labels"),
        (lambda r: r[4].update({-3: 5}), "first record only"),
        (lambda r: r[5].update({6: 3}), "own time"),
        (lambda r: r[2].update({-4: "W"}), "own time or base"),
        (lambda r: r[4].update({6: True}), "time must be an integer"),
        (lambda r: r.__setitem__(0, [1]), "must be a map"),
    ],
)
def test_malformed_pack_is_refused_with_reason(change, reason):
    with pytest.raises(WireError, match=reason):
        parse_readings(mutate(change), KID)


@pytest.mark.parametrize("payload", [b"", b"\xff", cbor2.dumps({}), cbor2.dumps([]), cbor2.dumps([{}] * (256 * 6 + 1))])
def test_payload_that_is_not_a_pack_is_refused(payload):
    with pytest.raises(WireError):
        parse_readings(payload, KID)
