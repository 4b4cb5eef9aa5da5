"""The outbox's rare work (meter/outbox.py): recovery at boot, merging when full, a pack the gateway has partly
or refuses. Loaded only when needed, and unloaded again, so that the meter's RAM is not spent on it.

recover(box): rebuilds the outbox's counters from flash after a boot, and cleans what a power cut left:
    a corrupt pack goes to `bad`; a pack whose first seq is not above the previous pack's last seq is the
    leftover of an interrupted merge (the merged pack replaced the older one, the newer one was still there)
    and is removed; open records with a bad CRC (a torn write) or already in a pack (an interrupted close) are
    dropped and the open file rewritten.
merge(box) -> bool: merges two adjacent packs, never the oldest (it may be in flight, and a pack once sent must
    keep its bytes): the pair with the finest time resolution (the smaller of their larger average intervals;
    the oldest such pair on a tie). So small packs are joined first (losslessly), then full packs pair by pair,
    each region of the outage coarsened in turn: resolution is lost evenly, within a factor of two, rather than
    in one hole. Kept: all readings if they fit in one pack, else pack_max of them spread evenly, the first and
    the last included, re-signed. The merged pack is renamed over the older one, then the newer one is removed.
    False when there are fewer than three packs. On a full flash, where the merged pack cannot be written, the
    newer pack of the pair is dropped instead (later readings carry the cumulative counters: totals stay exact).
drop_through(box, name, seq): the gateway has the pack's readings up to `seq` (a 4.09 answer): the rest is
    re-signed as a new pack, then the old one removed (a crash between leaves both; recover drops the new).
quarantine(box, name, why): moves a pack to `bad` and recounts.
newest(box) -> the newest reading held (pack.RECORD fields) or None: what a meter whose state was lost
    restores its counters from.
"""

import os
import struct
from binascii import crc32

from meter import flash
from meter.outbox import HEADER, HEADER_SIZE, SLOT_SIZE, name_of
from meter.pack import RECORD, RECORD_SIZE


def recover(box):
    flash.remove(box.path("tmp"))  # a pack being written when the power went; its readings are still open
    last = 0
    box.packs = box.count = 0
    for seq in box.names():
        name = name_of(seq)
        count = box.load(name)
        if count is None:
            _move_bad(box, name, "is corrupt")
            continue
        if struct.unpack_from("<I", box.scratch, HEADER_SIZE + 4)[0] <= last:
            print("outbox: removing %s left over from an interrupted merge" % name)
            flash.remove(box.path(name))
            continue
        last = struct.unpack_from(HEADER, box.scratch)[4]
        box.packs += 1
        box.count += count
    box.last_seq = last
    data = flash.read(box.path("open"), b"")
    kept = 0
    for offset in range(0, len(data) - SLOT_SIZE + 1, SLOT_SIZE):
        record = data[offset : offset + RECORD_SIZE]
        if struct.unpack_from("<I", data, offset + RECORD_SIZE)[0] != crc32(record):
            print("outbox: open record %d is torn or corrupt; skipped" % (offset // SLOT_SIZE))
            continue
        seq = struct.unpack_from("<I", record, 4)[0]
        if seq <= box.last_seq or kept == box.pack_max:
            continue
        box.open[kept * RECORD_SIZE : (kept + 1) * RECORD_SIZE] = record
        kept += 1
        box.last_seq = seq
    if len(data) % SLOT_SIZE:
        print("outbox: open file ends in %d bytes of a torn record; dropped" % (len(data) % SLOT_SIZE))
    box.open_count = kept
    box.count += kept
    if kept * SLOT_SIZE != len(data):
        if not kept:
            flash.remove(box.path("open"))
        else:
            slots = bytearray(kept * SLOT_SIZE)
            for index in range(kept):
                record = box.open[index * RECORD_SIZE : (index + 1) * RECORD_SIZE]
                slots[index * SLOT_SIZE : index * SLOT_SIZE + RECORD_SIZE] = record
                struct.pack_into("<I", slots, index * SLOT_SIZE + RECORD_SIZE, crc32(record))
            flash.write_atomic(box.path("open"), slots)


def newest(box):
    if box.open_count:
        return struct.unpack_from(RECORD, box.open, (box.open_count - 1) * RECORD_SIZE)
    names = box.names()
    count = box.load(name_of(names[-1])) if names else None
    if count is None:
        return None
    return struct.unpack_from(RECORD, box.scratch, HEADER_SIZE + (count - 1) * RECORD_SIZE)


def _move_bad(box, name, why):
    print("outbox: pack %s %s - moved to %s" % (name, why, box.path("bad")))
    try:
        os.rename(box.path(name), box.path("bad"))
    except OSError:
        flash.remove(box.path(name))


def quarantine(box, name, why):
    _move_bad(box, name, why)
    box.packs = 0
    box.count = box.open_count
    for seq in box.names():
        try:
            count, _ = box.seqs(name_of(seq))
        except (OSError, ValueError):
            continue
        box.packs += 1
        box.count += count


def drop_through(box, name, seq):
    count = box.load(name)
    if count is None:
        quarantine(box, name, "is corrupt")
        return
    records = box.scratch[HEADER_SIZE : HEADER_SIZE + count * RECORD_SIZE]
    keep = 0
    while keep < count and struct.unpack_from("<I", records, keep * RECORD_SIZE + 4)[0] <= seq:
        keep += 1
    if keep == count:
        box.remove(name)
        return
    rest = bytes(records[keep * RECORD_SIZE :])
    box.write_pack(rest, count - keep, box.packer.sign(rest, count - keep))
    flash.remove(box.path(name))
    box.count -= keep


def merge(box):
    flash.remove(box.path("bad"))
    best = None
    previous = None
    for seq in box.names()[1:]:
        with open(box.path(name_of(seq)), "rb") as handle:
            _, count, first_time, last_time, _ = struct.unpack(HEADER, handle.read(HEADER_SIZE))
        interval = (last_time - first_time) // max(1, count - 1)  # the pack's time resolution
        if previous is not None:
            key = max(interval, previous[1])
            if best is None or key < best[0]:
                best = (key, previous[0], seq)
        previous = (seq, interval)
    if best is None:
        return False
    first, second = name_of(best[1]), name_of(best[2])
    count_first = box.load(first)
    if count_first is None:
        quarantine(box, first, "is corrupt")
        return True
    records = bytearray(box.scratch[HEADER_SIZE : HEADER_SIZE + count_first * RECORD_SIZE])
    count_second = box.load(second)
    if count_second is None:
        quarantine(box, second, "is corrupt")
        return True
    records.extend(box.scratch[HEADER_SIZE : HEADER_SIZE + count_second * RECORD_SIZE])
    total = count_first + count_second
    kept = min(total, box.pack_max)
    view = memoryview(records)
    if kept < total:
        # Evenly spread, first and last included: source i * (total - 1) // (kept - 1) >= i, so copying
        # forward in place never overwrites a record still to be read.
        for index in range(kept):
            source = index * (total - 1) // (kept - 1)
            source *= RECORD_SIZE
            view[index * RECORD_SIZE : (index + 1) * RECORD_SIZE] = view[source : source + RECORD_SIZE]
        view = view[: kept * RECORD_SIZE]
    try:
        box.write_pack(view, kept, box.packer.sign(view, kept), first)
    except OSError as err:
        # A full flash has no room for the merged pack: the newer pack goes instead. Later readings carry the
        # cumulative counters, so energy totals stay exact; its readings' time resolution is what is lost.
        flash.remove(box.path("tmp"))
        box.remove(second)
        box.merged += count_second
        print("outbox: flash full (%r); dropped pack %s of %d readings" % (err, second, count_second))
        return True
    flash.remove(box.path(second))
    box.packs -= 1
    box.count -= total - kept
    box.merged += total - kept
    print("outbox: merged packs %s and %s keeping %d of %d readings" % (first, second, kept, total))
    return True
