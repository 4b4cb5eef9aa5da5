"""The meter's signed packs (firmware/meter/pack.py) and its flash outbox (outbox.py, outbox_fix.py), run in
MicroPython: bytes identical to the gateway's reference encoder, oldest-first delivery, bounds with even merging,
power cuts at every write, corrupt files, and a full flash (a LittleFS image, as on the ESP32)."""

import dataclasses
import json
import struct

from nacl.signing import SigningKey

from enerlectra.cose import decode_sign1, sign1, verify_sign1
from enerlectra.senml import Reading, encode_readings, parse_readings

KID = bytes.fromhex("0102030405060708")
SEED = bytes(range(32))
NO_FORECAST = 0xFFFFFFFF

PRELUDE = """
import json, os, struct, sys
from binascii import hexlify
from meter import outbox, outbox_fix, pack
KID = b"\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08"
SEED = bytes(range(32))

def make_box(pack_max=4, readings_max=64):
    return outbox.Outbox(KID, SEED, pack_max, "ob", readings_max)

def reading(seq):
    return (1790000000 + 60 * seq, seq, 1000 + 7 * seq, 0, 400 + seq, 5000 - seq, pack.NO_FORECAST)

def held(box):
    seqs = []
    for first in box.names():
        count = box.load(outbox.name_of(first))
        for index in range(count):
            seqs.append(struct.unpack_from(pack.RECORD, box.scratch, outbox.HEADER_SIZE + index * pack.RECORD_SIZE)[1])
    for index in range(box.open_count):
        seqs.append(struct.unpack_from(pack.RECORD, box.open, index * pack.RECORD_SIZE)[1])
    return seqs

def stored(box, name):
    handle, length = box.message(name)
    data = handle.read(length)
    handle.close()
    return data
"""


def run(micropython, script: str, heapsize: str = "256K") -> list:
    """Runs PRELUDE + script; returns the JSON values it printed, one per line."""
    output = micropython.run(PRELUDE + script, heapsize=heapsize).stdout
    return [json.loads(line) for line in output.splitlines() if line[:1] in "[{0123456789\"-tfn"]


def reading(seq: int, depletion_s: int | None = None) -> Reading:
    return Reading(1_790_000_000 + 60 * seq, seq, 1000 + 7 * seq, 0, 400 + seq, 5000 - seq, depletion_s)


def test_packs_are_the_bytes_the_gateways_reference_encoder_signs(micropython):
    cases = [
        [reading(7)],
        [reading(seq, 3600 * seq if seq % 2 else None) for seq in range(1, 33)],  # the newest without a forecast
        [reading(seq, 3600 * seq if seq % 2 else None) for seq in range(1, 32)],  # the newest with one
        # The largest pack the buffer must hold: every value and time offset at 5 bytes, energy_out and a forecast.
        [Reading(0 if seq == 2**32 - 32 else 2**32 - 1, seq, 2**32 - 1, 2**32 - 1, 2**32 - 1, 2**32 - 1, 2**32 - 2)
         for seq in range(2**32 - 32, 2**32)],
        # A clock set back between readings: a negative time offset; large values: 5-byte CBOR heads.
        [reading(1), Reading(1_789_999_000, 2, 2**32 - 1, 7, 2**31, 0), Reading(1_789_999_000, 3, 2**32 - 1, 7, 0, 0)],
    ]
    # Signed and written as the meter does (the SenML pack signed from a file, then the pack file written).
    script = "box = make_box(pack_max=32, readings_max=256)\n"
    for case in cases:
        records = b"".join(struct.pack("<7I", r.time_s, r.seq, r.energy_wh, r.energy_out_wh, r.power_w,
                                       r.credit_wh, NO_FORECAST if r.depletion_s is None else r.depletion_s)
                           for r in case)
        script += (f"name = box.write_pack({records!r}, {len(case)})\n"
                   "print(json.dumps(hexlify(stored(box, name)).decode()))\nbox.remove(name)\n")
    script += "print(json.dumps(sorted(os.listdir('ob'))))\n"
    *messages, files = run(micropython, script)
    assert files == []  # nothing left behind
    key = SigningKey(SEED)
    for case, message in zip(cases, messages, strict=True):
        assert bytes.fromhex(message) == sign1(encode_readings(KID, case), key, KID)
        # A pack carries the newest reading's forecast only (docs/senml.md).
        sent = [dataclasses.replace(r, depletion_s=None) for r in case[:-1]] + case[-1:]
        assert parse_readings(verify_sign1(decode_sign1(bytes.fromhex(message)), key.verify_key), KID) == sent


def test_readings_close_into_packs_and_go_oldest_first(micropython):
    [state, messages] = run(micropython, """
box = make_box(pack_max=4)
for seq in range(1, 11):
    box.append(*reading(seq))
print(json.dumps([box.count, box.packs, box.open_count, box.names(), held(box)]))
sent = []
while True:
    name = box.oldest() or box.close_pack()
    if name is None:
        break
    sent.append(hexlify(stored(box, name)).decode())
    box.remove(name)
print(json.dumps(sent))
print(json.dumps([box.count, box.packs, os.listdir("ob")]))
""")[:2]
    assert state == [10, 2, 2, [1, 5], list(range(1, 11))]
    key = SigningKey(SEED).verify_key
    packs = [parse_readings(verify_sign1(decode_sign1(bytes.fromhex(m)), key), KID) for m in messages]
    assert [[r.seq for r in p] for p in packs] == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]


def test_a_pack_whose_stored_message_is_damaged_or_missing_is_rebuilt_from_its_readings(micropython):
    before, found, rebuilt, after, state = run(micropython, """
box = make_box(pack_max=4)
for seq in range(1, 13):
    box.append(*reading(seq))
names = [outbox.name_of(first) for first in box.names()]
before = [hexlify(stored(box, name)).decode() for name in names]
def damage(name, keep, flip):
    with open(box.path(name), "rb") as handle:
        data = bytearray(handle.read())
    data[flip] ^= 1
    with open(box.path(name), "wb") as handle:
        handle.write(data[:keep])
readings_end = outbox.HEADER_SIZE + 4 * pack.RECORD_SIZE + 64 + 4
damage(names[0], 10000, -9)  # a bit of the stored message
damage(names[1], readings_end, 0)  # no message, as firmware 0.4.1 stored packs (the flip is undone below)
damage(names[1], readings_end, 0)
damage(names[2], 10000, -9)  # and a bit of a reading too: that pack cannot be rebuilt
damage(names[2], 10000, outbox.HEADER_SIZE + 5)
found = [box.message(name) is None for name in names]
rebuilt = [outbox_fix.rebuild(box, name) for name in names]
print(json.dumps(before))
print(json.dumps(found))
print(json.dumps(rebuilt))
print(json.dumps([hexlify(stored(box, name)).decode() for name in names[:2]]))
print(json.dumps([box.count, box.packs, sorted(os.listdir("ob"))]))
""")
    assert found == [True, True, True]
    assert rebuilt == [True, True, True]
    assert after == before[:2]  # the same bytes: the gateway acknowledges them as the pack it may already have
    assert state == [8, 2, ["0000000001", "0000000005", "bad"]]


def test_a_full_outbox_merges_evenly_and_keeps_the_newest_and_the_totals(micropython):
    [[count, packs, seqs, merged]] = run(micropython, """
box = make_box(pack_max=8, readings_max=64)
for seq in range(1, 401):
    box.append(*reading(seq))
print(json.dumps([box.count, box.packs, held(box), box.merged]))
""")
    assert count == len(seqs) <= 64
    assert packs <= 64 // 8 + 4
    assert seqs == sorted(set(seqs))
    assert seqs[:8] == list(range(1, 9))  # the oldest pack is never merged: it may be in flight
    assert seqs[-1] == 400  # the newest reading, with the cumulative counters, is always there
    assert merged == 400 - count
    # Resolution is lost across the whole outage, not in one hole: every quarter keeps a share of the readings.
    quarters = [sum(1 for seq in seqs if 100 * q < seq <= 100 * (q + 1)) for q in range(4)]
    assert min(quarters) >= 8, quarters


FAULTS = """
import builtins
import os as real_os
real_open = builtins.open

class PowerCut(Exception):
    pass

class Budget:
    left = -1  # writes, renames and removes still allowed before the power goes; -1: never

def spend():
    if Budget.left == 0:
        raise PowerCut()
    if Budget.left > 0:
        Budget.left -= 1

class File:
    def __init__(self, handle):
        self.handle = handle
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        self.handle.close()
    def write(self, data):
        if Budget.left == 0:
            self.handle.write(bytes(data)[: len(data) // 2])  # a torn write
            raise PowerCut()
        spend()
        return self.handle.write(data)
    def __getattr__(self, name):
        return getattr(self.handle, name)

def faulty_open(path, mode="r"):
    return File(real_open(path, mode))

class Os:
    def __getattr__(self, name):
        return getattr(real_os, name)
    def rename(self, a, b):
        spend()
        real_os.rename(a, b)
    def remove(self, path):
        spend()
        real_os.remove(path)

builtins.open = faulty_open
sys.modules["os"] = Os()
"""


def test_a_power_cut_at_any_write_loses_no_stored_reading_and_invents_none(micropython):
    results = run(micropython, FAULTS + """
def wipe(path):
    for entry in real_os.ilistdir(path):
        real_os.remove(path + "/" + entry[0])

for cut in range(0, 80):
    real_os.mkdir("ob") if "ob" not in real_os.listdir() else wipe("ob")
    # Reload the modules so that they see the faulty os.
    for name in ("meter.outbox", "meter.outbox_fix", "meter.flash"):
        sys.modules.pop(name, None)
    from meter import outbox, outbox_fix
    Budget.left = cut
    stored = []
    try:
        box = make_box(pack_max=4, readings_max=64)
        for seq in range(1, 15):
            box.append(*reading(seq))
            stored.append(seq)
        name = box.oldest()
        box.remove(name)  # the gateway acknowledged the first pack
        acked = [1, 2, 3, 4]
        done = True
    except PowerCut:
        acked = []
        done = False
    Budget.left = -1
    box = make_box(pack_max=4, readings_max=64)
    outbox_fix.recover(box)
    print(json.dumps([cut, done, stored, acked, held(box), box.count]))
    if done:
        break
""")
    assert results[-1][1], "the scenario must complete once the budget is large enough"
    for cut, _done, stored, acked, seqs, count in results:
        assert seqs == sorted(set(seqs)), f"cut {cut}: {seqs}"
        assert count == len(seqs), f"cut {cut}"
        assert set(seqs) <= set(range(1, 15)), f"cut {cut}: invented {seqs}"
        # Everything stored is still there, except what the gateway acknowledged; the reading being written when
        # the power went may or may not be.
        missing = set(stored) - set(seqs) - set(acked)
        assert not missing, f"cut {cut}: lost {missing}"
    assert len(results) > 20


def test_a_power_cut_during_merges_leaves_a_consistent_outbox(micropython):
    results = run(micropython, FAULTS + """
def wipe(path):
    for entry in real_os.ilistdir(path):
        real_os.remove(path + "/" + entry[0])

for cut in range(0, 400, 3):
    real_os.mkdir("ob") if "ob" not in real_os.listdir() else wipe("ob")
    for name in ("meter.outbox", "meter.outbox_fix", "meter.flash"):
        sys.modules.pop(name, None)
    from meter import outbox, outbox_fix
    Budget.left = cut
    stored = 0
    try:
        box = make_box(pack_max=4, readings_max=16)
        for seq in range(1, 41):
            box.append(*reading(seq))
            stored = seq
        done = True
    except PowerCut:
        done = False
    Budget.left = -1
    box = make_box(pack_max=4, readings_max=16)
    outbox_fix.recover(box)
    print(json.dumps([cut, done, stored, held(box), box.count]))
    if done:
        break
""")
    assert results[-1][1]
    for cut, _done, stored, seqs, count in results:
        assert seqs == sorted(set(seqs)) and count == len(seqs), f"cut {cut}: {seqs}"
        if stored:
            assert stored in seqs, f"cut {cut}: the newest stored reading {stored} is gone: {seqs}"
        # Once recovered, the outbox works on.
    assert any(len(r[3]) >= 12 for r in results)


def test_corrupt_and_torn_files_are_reported_and_the_rest_recovered(micropython):
    lines = micropython.run(PRELUDE + """
box = make_box(pack_max=4)
for seq in range(1, 11):
    box.append(*reading(seq))
# Bit rot in the second pack and in the second open record, and a torn record after them.
for path, offset in (("ob/0000000005", 20), ("ob/open", 32 + 5)):
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)[0]
        handle.seek(offset)
        handle.write(bytes((byte ^ 0x10,)))
with open("ob/open", "ab") as handle:
    handle.write(b"\\x01\\x02\\x03")
box = make_box(pack_max=4)
outbox_fix.recover(box)
print(json.dumps([held(box), box.count, box.packs, sorted(os.listdir("ob"))]))
""", heapsize="256K").stdout
    assert "outbox: pack 0000000005 is corrupt - moved to ob/bad" in lines
    assert "open record 1 is torn or corrupt" in lines
    assert "3 bytes of a torn record" in lines
    seqs, count, packs, files = json.loads(lines.splitlines()[-1])
    assert seqs == [1, 2, 3, 4, 9]
    assert (count, packs) == (5, 1)
    assert files == ["0000000001", "bad", "open"]


def test_the_gateway_having_part_of_a_pack_drops_just_that_part(micropython):
    [[seqs, count]] = run(micropython, """
box = make_box(pack_max=4)
for seq in range(1, 7):
    box.append(*reading(seq))
outbox_fix.drop_through(box, box.oldest(), 2)
print(json.dumps([held(box), box.count]))
""")
    assert (seqs, count) == ([3, 4, 5, 6], 4)


def test_a_full_flash_sheds_old_resolution_and_keeps_storing_the_newest(micropython, tmp_path):
    lines = micropython.run(f"""
from meter import simflash
simflash.mount({{"blocks": 24, "block_size": 512}}, {str(tmp_path / "flash.img")!r})
""" + PRELUDE + """
box = make_box(pack_max=8, readings_max=4096)
refused = 0
newest = 0
for seq in range(1, 400):
    try:
        box.append(*reading(seq))
        newest = seq
    except OSError as err:
        refused += 1
print(json.dumps([refused, box.count, box.packs, box.merged, held(box)[-1], newest]))
box = make_box(pack_max=8, readings_max=4096)
outbox_fix.recover(box)
print(json.dumps([box.count, len(held(box))]))
""", heapsize="256K").stdout.splitlines()
    refused, count, _packs, merged, held_newest, newest = json.loads(lines[-2])
    assert any("write failed" in line for line in lines)
    assert any("flash full" in line and "dropped pack" in line for line in lines)
    assert merged > 0 and count < 399
    assert (refused, held_newest, newest) == (0, 399, 399)  # the newest, with the cumulative counters, is kept
    assert json.loads(lines[-1]) == [count, count]  # and it all reads back after a reboot


def test_an_outbox_written_on_the_host_is_what_the_meter_would_have_written(micropython):
    from tools.outbox_image import write_outbox
    from tools.provision import Identity

    identity = Identity("m", SEED, KID)
    readings = [reading(seq) for seq in range(1, 41)]
    assert write_outbox(micropython.workdir, identity, readings, pack_readings=16) == 3
    [messages] = run(micropython, """
box = make_box(pack_max=16)
outbox_fix.recover(box)
sent = []
while box.oldest():
    sent.append(hexlify(stored(box, box.oldest())).decode())
    box.remove(box.oldest())
print(json.dumps(sent))
""")
    key = SigningKey(SEED)
    assert [bytes.fromhex(m) for m in messages] == [sign1(encode_readings(KID, readings[i : i + 16]), key, KID)
                                                    for i in (0, 16, 32)]
