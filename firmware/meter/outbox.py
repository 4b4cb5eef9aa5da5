"""The offline outbox: readings the gateway has not acknowledged, on flash, bounded, crash-safe, oldest first.

    box = Outbox(kid, seed, pack_max=32, readings_max=4096, table_path="ed25519.tbl")
    outbox_fix.recover(box)        # at boot: what a power cut left (meter/outbox_fix.py)
    box.append(time_s, seq, energy_wh, energy_out_wh, power_w, credit_wh, depletion_s)
    box.close_pack()               # signs the open readings into a pack (append does it when a pack is full)
    name = box.oldest()            # the oldest closed pack, or None
    stored = box.message(name)     # its COSE_Sign1 as stored: (open file, length), or None if damaged
    box.remove(name)               # only once the gateway acknowledged it

Layout in the folder `ob/`:
- `open`: readings not yet in a pack, 32-byte records (meter.RECORD + CRC-32), each written at its place.
- one file per closed pack, named by its first seq (10 digits, so names sort as seqs): a 16-byte header
  (b"P1", count, first time, last time, last seq), the records, the 64-byte signature, a CRC-32 of all that;
  then the COSE_Sign1 message made of them, as sent, and its own CRC-32. A pack is signed and encoded once, when
  closed (offline work: during an outage a meter has all the time it needs), and sent as often as needed with
  the same bytes, read from flash block by block: the network phase needs neither the encoder nor a buffer for
  a whole pack. The message is derived data: when its part is damaged or missing (a pack written by firmware
  0.4.1 and older), outbox_fix.rebuild writes it again from the readings and signature.
- `senml`: while a pack is signed, its SenML pack, which Ed25519 reads back (pack.py, the encoder, is unloaded by
  then: the two never share the heap); removed once the signature is made.
- `bad`: the last pack found corrupt or refused as malformed (4.00), kept for a technician, never sent.

Crash safety (power cut at any point): a record is either whole (CRC) or ignored; packs are written to `tmp`
and renamed into place; the open file is removed only after its pack exists, and at boot open records already
in a pack are dropped, as are `tmp` and `senml`; merges are ordered so that a leftover is recognisable at boot
(meter/outbox_fix.py).

Bounds: at most `readings_max` readings and `packs_max` packs; beyond, outbox_fix.merge thins the two adjacent
packs (never the oldest) spanning the shortest time. Cumulative counters make this lossless for energy totals.
A full flash (OSError on write) triggers a merge and one retry; if that fails too, append raises and the
reading is not stored (the next one carries the cumulative counters).
"""

import os
import struct
from binascii import crc32

from micropython import const

from meter import READINGS_MAX, RECORD, RECORD_SIZE, crypto, crypto_release, flash, unload

SLOT_SIZE = const(32)  # record + CRC-32
HEADER = "<2sHIII"  # magic, count, first time, last time, last seq
HEADER_SIZE = const(16)
MAGIC = b"P1"
_SIGNATURE_SIZE = const(64)


def name_of(seq):
    return "%010d" % seq


class Outbox:
    def __init__(self, kid, seed, pack_max, directory="ob", readings_max=4096, table_path=None):
        if not 0 < pack_max <= READINGS_MAX:
            raise ValueError("a pack holds 1 to 256 readings")
        if readings_max < 4 * pack_max:
            raise ValueError("outbox must hold at least 4 packs")
        self.kid = kid
        self.seed = seed
        self.table_path = table_path
        self.packer = None  # meter/pack.py's Packer, while a phase signs or writes packs: acquire()
        self.directory = directory
        self.pack_max = pack_max
        self.readings_max = readings_max
        self.packs_max = readings_max // pack_max + 4
        self.count = 0  # readings held, in packs and open
        self.packs = 0
        self.last_seq = 0  # the newest seq held or packed
        self.merged = 0  # readings dropped by merges since boot (time resolution only)
        self.open = memoryview(bytearray(pack_max * RECORD_SIZE))  # the open readings, mirrored in RAM
        self.open_count = 0
        # The readings part of one pack file (up to its first CRC), while a phase reads packs: load().
        self.scratch = None
        try:
            os.mkdir(directory)
        except OSError:
            pass

    def acquire(self):
        """The packer (meter/pack.py, loaded for it), for a phase that signs or writes packs."""
        if self.packer is None:
            from meter import pack

            self.packer = pack.Packer(self.kid, self.seed, self.pack_max, self.table_path)
        return self.packer

    def release(self):
        """Frees what a phase used: the scratch, the packer and its code, the Ed25519 code."""
        self.scratch = None
        self.packer = None
        unload("pack")
        crypto_release()

    def path(self, name):
        return self.directory + "/" + name

    def names(self):
        """The packs' first seqs, oldest first."""
        return sorted(int(entry[0]) for entry in os.ilistdir(self.directory) if entry[0].isdigit())

    def load(self, name):
        """Reads a pack's readings part into `scratch` and checks it; its reading count, or None when it is bad."""
        if self.scratch is None:
            self.scratch = memoryview(bytearray(HEADER_SIZE + self.pack_max * RECORD_SIZE + _SIGNATURE_SIZE + 4))
        try:
            with open(self.path(name), "rb") as handle:
                size = handle.readinto(self.scratch)
        except OSError:
            return None
        scratch = self.scratch
        if size < HEADER_SIZE + RECORD_SIZE + _SIGNATURE_SIZE + 4:
            return None
        magic, count, _, _, _ = struct.unpack_from(HEADER, scratch)
        end = HEADER_SIZE + count * RECORD_SIZE + _SIGNATURE_SIZE
        if magic != MAGIC or not 0 < count <= self.pack_max or size < end + 4:
            return None
        if struct.unpack_from("<I", scratch, end)[0] != crc32(scratch[:end]):
            return None
        return count

    def append(self, time_s, seq, energy_wh, energy_out_wh, power_w, credit_wh, depletion_s):
        """Stores one reading durably (closes a full pack, merges when over the bounds); OSError if it cannot."""
        if seq <= self.last_seq:
            raise ValueError("seq must increase")
        if self.open_count == self.pack_max:
            self._close_pack_making_room()  # a pack the flash had no room for earlier
        slot = bytearray(SLOT_SIZE)
        struct.pack_into(RECORD, slot, 0, time_s, seq, energy_wh, energy_out_wh, power_w, credit_wh, depletion_s)
        struct.pack_into("<I", slot, RECORD_SIZE, crc32(memoryview(slot)[:RECORD_SIZE]))
        try:
            self._write_slot(slot)
        except OSError as err:
            print("outbox: write failed:", repr(err))
            flash.remove(self.path("bad"))
            if not self._merge():
                raise
            self._write_slot(slot)
        index = self.open_count * RECORD_SIZE
        self.open[index : index + RECORD_SIZE] = memoryview(slot)[:RECORD_SIZE]
        self.open_count += 1
        self.count += 1
        self.last_seq = seq
        if self.open_count == self.pack_max:
            try:
                self._close_pack_making_room()
            except OSError as err:  # the reading is stored (open); closing it is tried again at the next one
                print("outbox: closing the pack failed:", repr(err))
        for _ in range(8):
            if (self.count <= self.readings_max and self.packs <= self.packs_max) or not self._merge():
                break

    def _close_pack_making_room(self):
        try:
            self.close_pack()
        except OSError as err:
            print("outbox: closing the pack failed:", repr(err))
            if not self._merge():
                raise
            self.close_pack()

    def _merge(self):
        self.acquire()
        from meter import outbox_fix

        try:
            return outbox_fix.merge(self)
        finally:
            unload("outbox_fix")

    def _write_slot(self, data):
        # At its place: a torn write is overwritten by the next record, never followed by it.
        with open(self.path("open"), "r+b" if self.open_count else "wb") as handle:
            handle.seek(self.open_count * SLOT_SIZE)
            handle.write(data)

    def close_pack(self):
        """Signs the open readings into a pack file; returns its name (None when nothing is open)."""
        count = self.open_count
        if not count:
            return None
        name = self.write_pack(self.open[: count * RECORD_SIZE], count)
        flash.remove(self.path("open"))
        self.open_count = 0
        self.packs += 1
        return name

    def write_pack(self, records, count, signature=None, name=None):
        """Writes a pack file of these readings (renamed into place only when whole), named by its first seq unless
        `name` is given; signs them first when `signature` is None (_sign)."""
        if signature is None:
            signature = self._sign(records, count)
        first_time, first_seq = struct.unpack_from("<II", records, 0)
        last_time, last_seq = struct.unpack_from("<II", records, (count - 1) * RECORD_SIZE)
        header = struct.pack(HEADER, MAGIC, count, first_time, last_time, last_seq)
        name = name or name_of(first_seq)
        try:
            with open(self.path("tmp"), "wb") as handle:
                handle.write(header)
                handle.write(records)
                handle.write(signature)
                handle.write(struct.pack("<I", crc32(signature, crc32(records, crc32(header)))))
                crc = 0
                for piece in self.acquire().cose(records, count, signature):
                    handle.write(piece)
                    crc = crc32(piece, crc)
                handle.write(struct.pack("<I", crc))
            os.rename(self.path("tmp"), self.path(name))
        except OSError:
            flash.remove(self.path("tmp"))  # its space is needed back
            raise
        return name

    def _sign(self, records, count):
        # The readings' signature. Their SenML pack is written to the file `senml` (meter/pack.py), then signed as it
        # lies there, read back a piece at a time for each of Ed25519's two passes, with only the Ed25519 code loaded:
        # pack.py and it never share the heap. OSError when the flash has no room for the file.
        path = self.path("senml")
        try:
            size = 0
            with open(path, "wb") as handle:
                for piece in self.acquire().senml(records, count):
                    handle.write(piece)
                    size += len(piece)
            head = self.packer.to_sign(size)
            self.packer = None
            unload("pack")
            with open(path, "rb") as handle:

                def pieces():
                    yield head
                    handle.seek(0)
                    piece = handle.read(128)
                    while piece:
                        yield piece
                        piece = handle.read(128)

                try:
                    return crypto(self.table_path).sign(self.seed, pieces)
                finally:
                    crypto_release()
        finally:
            flash.remove(path)

    def oldest(self):
        names = self.names()
        return name_of(names[0]) if names else None

    def message(self, name):
        """The pack's stored COSE_Sign1, its CRC checked: (the file, open at the message's first byte; its length),
        which the caller closes. None when the file or the message is missing or damaged."""
        try:
            handle = open(self.path(name), "rb")  # noqa: SIM115 (returned open)
        except OSError:
            return None
        try:
            count = struct.unpack(HEADER, handle.read(HEADER_SIZE))[1]
            start = HEADER_SIZE + count * RECORD_SIZE + _SIGNATURE_SIZE + 4
            length = handle.seek(0, 2) - start - 4
            handle.seek(start)
            crc = flash.crc_of(handle, length)
            if length > 0 and crc is not None and handle.read(4) == struct.pack("<I", crc):
                handle.seek(start)
                return handle, length
        except (OSError, ValueError):
            pass
        handle.close()
        return None

    def seqs(self, name):
        """(count, last seq) of a pack, from its header."""
        with open(self.path(name), "rb") as handle:
            _, count, _, _, last_seq = struct.unpack(HEADER, handle.read(HEADER_SIZE))
        return count, last_seq

    def remove(self, name):
        """The gateway has the pack: forget it."""
        count, _ = self.seqs(name)
        flash.remove(self.path(name))
        self.packs -= 1
        self.count -= count
