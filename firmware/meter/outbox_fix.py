"""The outbox's rare work (meter/outbox.py): recovery at boot, merging when full, a pack the gateway has partly
or refuses. Loaded only when needed, and unloaded again, so that the meter's RAM is not spent on it.

recover(outbox): rebuilds the outbox's counters from flash after a boot, and cleans what a power cut left:
    a corrupt pack goes to `bad`; a pack whose first seq is not above the previous pack's last seq is the
    leftover of an interrupted merge (the merged pack replaced the older one, the newer one was still there)
    and is removed; open records with a bad CRC (a torn write) or already in a pack (an interrupted close) are
    dropped and the open file rewritten.
merge(outbox) -> bool: merges two adjacent packs, never the oldest (it may be in flight, and a pack once sent must
    keep its bytes): the pair with the finest time resolution (the smaller of their larger average intervals;
    the oldest such pair on a tie). So small packs are joined first (losslessly), then full packs pair by pair,
    each region of the outage coarsened in turn: resolution is lost evenly, within a factor of two, rather than
    in one hole. Kept: all readings if they fit in one pack, else pack_max of them spread evenly, the first and
    the last included, re-signed. The merged pack is renamed over the older one, then the newer one is removed.
    False when there are fewer than three packs. On a full flash, where the merged pack cannot be written, the
    newer pack of the pair is dropped instead (later readings carry the cumulative counters: totals stay exact).
drop_through(outbox, name, seq): the gateway has the pack's readings up to `seq` (a 4.09 answer): the rest is
    re-signed as a new pack, then the old one removed (a crash between leaves both; recover drops the new).
quarantine(outbox, name, why): moves a pack to `bad` and recounts.
rebuild(outbox, name) -> bool: writes a pack again, its message made anew from its readings and signature (the
    message part was damaged, or the pack was written by firmware 0.4.1, which stored none); a pack whose readings
    are damaged is quarantined. False when the flash has no room for it (it is kept, and tried again later).
newest(outbox) -> the newest reading held (RECORD fields) or None: what a meter whose state was lost
    restores its counters from.
"""

import os
import struct
from binascii import crc32

from meter import flash
from meter.outbox import HEADER, HEADER_SIZE, MAGIC, RECORD, RECORD_SIZE, SLOT_SIZE, name_of


def recover(outbox):
    # A pack being written or signed when the power went: its readings are still open.
    flash.remove(outbox.path("tmp"))
    flash.remove(outbox.path("senml"))
    last = 0
    outbox.packs = outbox.count = 0
    for seq in outbox.names():
        name = name_of(seq)
        head = _check(outbox, name)
        if head is None:
            _move_bad(outbox, name, "is corrupt")
            continue
        count, first_seq, last_seq = head
        if first_seq <= last:
            print("outbox: removing %s left over from an interrupted merge" % name)
            flash.remove(outbox.path(name))
            continue
        last = last_seq
        outbox.packs += 1
        outbox.count += count
    outbox.last_seq = last
    data = flash.read(outbox.path("open"), b"")
    kept = 0
    for offset in range(0, len(data) - SLOT_SIZE + 1, SLOT_SIZE):
        record = data[offset : offset + RECORD_SIZE]
        if struct.unpack_from("<I", data, offset + RECORD_SIZE)[0] != crc32(record):
            print("outbox: open record %d is torn or corrupt; skipped" % (offset // SLOT_SIZE))
            continue
        seq = struct.unpack_from("<I", record, 4)[0]
        if seq <= outbox.last_seq or kept == outbox.pack_max:
            continue
        outbox.open[kept * RECORD_SIZE : (kept + 1) * RECORD_SIZE] = record
        kept += 1
        outbox.last_seq = seq
    if len(data) % SLOT_SIZE:
        print("outbox: open file ends in %d bytes of a torn record; dropped" % (len(data) % SLOT_SIZE))
    outbox.open_count = kept
    outbox.count += kept
    if kept * SLOT_SIZE != len(data):
        if not kept:
            flash.remove(outbox.path("open"))
        else:
            slots = bytearray(kept * SLOT_SIZE)
            for index in range(kept):
                record = outbox.open[index * RECORD_SIZE : (index + 1) * RECORD_SIZE]
                slots[index * SLOT_SIZE : index * SLOT_SIZE + RECORD_SIZE] = record
                struct.pack_into("<I", slots, index * SLOT_SIZE + RECORD_SIZE, crc32(record))
            flash.write_atomic(outbox.path("open"), slots)


def _check(outbox, name):
    # (count, first seq, last seq) of a pack whose readings part is intact, else None. Read in small pieces, as
    # boot's heap has little room in one piece (outbox.load needs about 1 KB).
    try:
        with open(outbox.path(name), "rb") as handle:
            magic, count, _, _, last_seq = struct.unpack(HEADER, handle.read(HEADER_SIZE))
            if magic != MAGIC or not 0 < count <= outbox.pack_max:
                return None
            first_seq = struct.unpack("<II", handle.read(8))[1]  # the first reading's time and seq
            handle.seek(0)
            crc = flash.crc_of(handle, HEADER_SIZE + count * RECORD_SIZE + 64)  # the readings and the signature
            if crc is None or handle.read(4) != struct.pack("<I", crc):
                return None
            return count, first_seq, last_seq
    except (OSError, ValueError):
        return None


def newest(outbox):
    if outbox.open_count:
        return struct.unpack_from(RECORD, outbox.open, (outbox.open_count - 1) * RECORD_SIZE)
    names = outbox.names()
    count = outbox.load(name_of(names[-1])) if names else None
    if count is None:
        return None
    return struct.unpack_from(RECORD, outbox.scratch, HEADER_SIZE + (count - 1) * RECORD_SIZE)


def _move_bad(outbox, name, why):
    print("outbox: pack %s %s - moved to %s" % (name, why, outbox.path("bad")))
    try:
        os.rename(outbox.path(name), outbox.path("bad"))
    except OSError:
        flash.remove(outbox.path(name))


def quarantine(outbox, name, why):
    _move_bad(outbox, name, why)
    outbox.packs = 0
    outbox.count = outbox.open_count
    for seq in outbox.names():
        try:
            count, _ = outbox.seqs(name_of(seq))
        except (OSError, ValueError):
            continue
        outbox.packs += 1
        outbox.count += count


def rebuild(outbox, name):
    count = outbox.load(name)
    if count is None:
        quarantine(outbox, name, "is corrupt")
        return True
    end = HEADER_SIZE + count * RECORD_SIZE
    records = outbox.scratch[HEADER_SIZE:end]
    try:
        outbox.write_pack(records, count, bytes(outbox.scratch[end : end + 64]), name)
    except OSError as err:
        print("outbox: pack %s not rebuilt: %r" % (name, err))
        return False
    print("outbox: pack %s rebuilt" % name)
    return True


def drop_through(outbox, name, seq):
    count = outbox.load(name)
    if count is None:
        quarantine(outbox, name, "is corrupt")
        return
    records = outbox.scratch[HEADER_SIZE : HEADER_SIZE + count * RECORD_SIZE]
    keep = 0
    while keep < count and struct.unpack_from("<I", records, keep * RECORD_SIZE + 4)[0] <= seq:
        keep += 1
    if keep == count:
        outbox.remove(name)
        return
    rest = bytes(records[keep * RECORD_SIZE :])
    outbox.write_pack(rest, count - keep)
    flash.remove(outbox.path(name))
    outbox.count -= keep


def merge(outbox):
    flash.remove(outbox.path("bad"))
    best = None
    previous = None
    for seq in outbox.names()[1:]:
        with open(outbox.path(name_of(seq)), "rb") as handle:
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
    count_first = outbox.load(first)
    if count_first is None:
        quarantine(outbox, first, "is corrupt")
        return True
    records = bytearray(outbox.scratch[HEADER_SIZE : HEADER_SIZE + count_first * RECORD_SIZE])
    count_second = outbox.load(second)
    if count_second is None:
        quarantine(outbox, second, "is corrupt")
        return True
    records.extend(outbox.scratch[HEADER_SIZE : HEADER_SIZE + count_second * RECORD_SIZE])
    total = count_first + count_second
    kept = min(total, outbox.pack_max)
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
        outbox.write_pack(view, kept, name=first)
    except OSError as err:
        # A full flash has no room for the merged pack: the newer pack goes instead. Later readings carry the
        # cumulative counters, so energy totals stay exact; its readings' time resolution is what is lost.
        flash.remove(outbox.path("tmp"))
        outbox.remove(second)
        outbox.merged += count_second
        print("outbox: flash full (%r); dropped pack %s of %d readings" % (err, second, count_second))
        return True
    flash.remove(outbox.path(second))
    outbox.packs -= 1
    outbox.count -= total - kept
    outbox.merged += total - kept
    print("outbox: merged packs %s and %s keeping %d of %d readings" % (first, second, kept, total))
    return True
