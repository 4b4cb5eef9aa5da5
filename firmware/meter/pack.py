"""Signed packs of readings, a piece at a time: a SenML pack (CBOR) inside a COSE_Sign1, never whole in RAM.

    packer = Packer(kid, seed, readings_max=32, table_path="ed25519.tbl")
    for piece in packer.senml(records, count): ...    # the SenML pack, a piece at a time
    head = packer.to_sign(length)                     # what Ed25519 signs before a SenML pack of `length` bytes
    for piece in packer.cose(records, count, signature):
        handle.write(piece)                           # the COSE_Sign1, a piece at a time
    room = packer.room(count)                         # or: a buffer for a whole message, allocated first,
    message = packer.signed(records, count, room)     # the message written into it and signed where it lies

The meter's outbox (meter/outbox.py) writes the SenML pack to a file, signs it from there with this module unloaded,
then writes the pack file with `cose`.

`records` is a bytes-like of `count` readings packed with RECORD (meter/__init__.py: "<7I": time_s, seq, energy_wh,
energy_out_wh, power_w, credit_wh, depletion_s, NO_FORECAST when the meter has none; the pack carries the newest
reading's forecast only). The bytes are exactly what
enerlectra.senml.encode_readings and enerlectra.cose.sign1 make of the same readings (docs/senml.md; a test
checks it), so a signature kept with the readings fits the message `cose` makes of them later. Ed25519 is
deterministic, so signing the same readings again also gives the same bytes, and a pack the gateway already has is
acknowledged again, never refused as a replay.

Memory: the encoder writes one reading at a time into a buffer of ~200 bytes and hands the pieces on, to the
outbox's file. A whole pack (~3 KB for 32 readings) would need room in one piece, which the heap of a running meter
seldom has. This module is loaded for the phases that write packs (meter/outbox.py `acquire`) and unloaded before
the Ed25519 code (~10 KB of RAM, meter.crypto()) is loaded to sign what it wrote: the two never share the heap.
Raises ValueError for a count outside 1..readings_max.
"""

import gc
import struct
from binascii import hexlify

from micropython import const

from meter import NO_FORECAST, READINGS_MAX, RECORD, RECORD_SIZE, crypto

_READING_BYTES_MAX = const(84)  # every record, energy_out too, each value and the time offset at 5 bytes
# A piece: the array's head (5), a reading with its forecast (21) and the first reading's base fields (bn, bt, bu:
# 13 bytes besides the name).
_PIECE_BYTES_MAX = const(5 + _READING_BYTES_MAX + 21 + 13)
# {n: "seq", v: ... : maps are canonical (keys n 0, u 1, v 2, t 6, bn -2, bt -3, bu -4). The first record carries
# the base unit "Wh", so records in Wh omit their own unit; power ("W") and the forecast ("s") keep theirs.
_SEQ = b"\x00\x63seq\x02"
_BASE_UNIT = b"\x23\x62Wh"
_MEASUREMENTS = (
    b"\xa2\x00\x66energy\x02",
    b"\xa2\x00\x6aenergy_out\x02",
    b"\xa3\x00\x65power\x01\x61W\x02",
    b"\xa2\x00\x66credit\x02",
)
_DEPLETION = b"\xa3\x00\x69depletion\x01\x61s\x02"
_SIG_STRUCTURE = b"\x84\x6aSignature1\x43\xa1\x01\x27\x40"  # ["Signature1", {alg: EdDSA}, h'', payload]
_COSE_HEAD = b"\xd2\x84\x43\xa1\x01\x27\xa1\x04"  # 18([{alg: EdDSA}, {kid: ...}, payload, signature])


def _head(view, pos, major, n):
    # A CBOR head (major type, argument n < 2^32) at pos; returns the position after it.
    if n < 24:
        view[pos] = major << 5 | n
        return pos + 1
    if n < 0x100:
        view[pos] = major << 5 | 24
        view[pos + 1] = n
        return pos + 2
    if n < 0x10000:
        struct.pack_into(">BH", view, pos, major << 5 | 25, n)
        return pos + 3
    struct.pack_into(">BI", view, pos, major << 5 | 26, n)
    return pos + 5


def _put(view, pos, data):
    end = pos + len(data)
    view[pos:end] = data
    return end


class Packer:
    def __init__(self, kid, seed, readings_max, table_path=None):
        if not 0 < readings_max <= READINGS_MAX:
            raise ValueError("a pack holds 1 to 256 readings")
        self.kid = kid
        self.seed = seed
        self.table_path = table_path
        self.readings_max = readings_max
        self._base_name = ("urn:dev:kid:" + hexlify(kid).decode() + ":").encode()
        self.view = memoryview(bytearray(_PIECE_BYTES_MAX + len(self._base_name)))  # one reading at a time

    def senml(self, records, count):
        """The SenML pack, a reading at a time: views of one buffer, each valid until the next is asked for."""
        if not 0 < count <= self.readings_max:
            raise ValueError("pack size")
        view = self.view
        optional = 0  # records beyond the four every reading has: energy_out when not 0, the forecast
        for index in range(count):
            if struct.unpack_from("<I", records, index * RECORD_SIZE + 12)[0]:
                optional += 1
        if struct.unpack_from("<I", records, (count - 1) * RECORD_SIZE + 24)[0] != NO_FORECAST:
            optional += 1  # a pack carries the newest reading's forecast only (docs/senml.md)
        pos = _head(view, 0, 4, 4 * count + optional)
        base_time = struct.unpack_from("<I", records, 0)[0]
        for index in range(count):
            fields = struct.unpack_from(RECORD, records, index * RECORD_SIZE)
            offset = fields[0] - base_time
            view[pos] = 0xA5 if index == 0 else 0xA3 if offset else 0xA2  # a map of 5, 3 or 2 keys
            pos = _head(view, _put(view, pos + 1, _SEQ), 0, fields[1])
            if index == 0:
                view[pos] = 0x21  # bn
                pos = _put(view, _head(view, pos + 1, 3, len(self._base_name)), self._base_name)
                view[pos] = 0x22  # bt
                pos = _put(view, _head(view, pos + 1, 0, base_time), _BASE_UNIT)
            elif offset:
                view[pos] = 0x06  # t, relative to bt
                pos = _head(view, pos + 1, 0, offset) if offset > 0 else _head(view, pos + 1, 1, -1 - offset)
            for measurement in range(4):
                value = fields[2 + measurement]
                if value or measurement != 1:  # energy_out is left out while it is 0
                    pos = _head(view, _put(view, pos, _MEASUREMENTS[measurement]), 0, value)
            if fields[6] != NO_FORECAST and index == count - 1:
                pos = _head(view, _put(view, pos, _DEPLETION), 0, fields[6])
            yield view[:pos]
            pos = 0

    def cose(self, records, count, signature):
        """The COSE_Sign1 of these readings with their signature, in pieces (as senml): the first ends with the
        SenML pack's byte-string head, the last is the signature's (its head and `signature`)."""
        size = 0  # the SenML pack's: one pass of the encoder, before the one that yields it
        for piece in self.senml(records, count):
            size += len(piece)
        kid = self.kid
        yield _COSE_HEAD + _bytes_head(len(kid)) + kid + _bytes_head(size)
        yield from self.senml(records, count)
        yield b"\x58\x40" + signature

    def to_sign(self, length):
        """The COSE Sig_structure's bytes before a SenML pack of `length` bytes: what is signed is these, then it."""
        return _SIG_STRUCTURE + _bytes_head(length)

    def sign(self, payload):
        """The Ed25519 signature (64 bytes) of the COSE Sig_structure of an encoded SenML pack."""
        return crypto(self.table_path).sign(self.seed, (self.to_sign(len(payload)), payload))

    def room(self, count):
        """A buffer for the COSE_Sign1 of up to `count` readings: allocated first (in a collected heap: room in one
        piece), for signed(). For a sender that keeps whole messages in RAM (meter/senml.py)."""
        gc.collect()
        kid = self.kid
        return bytearray(len(_COSE_HEAD) + 2 + len(kid) + 5 + _PIECE_BYTES_MAX + len(self._base_name)
                         + (count - 1) * _READING_BYTES_MAX + 66)

    def signed(self, records, count, room):
        """The COSE_Sign1 of these readings, written into room (its signature blank), then signed where its
        payload lies: a memoryview of room. The payload is never held twice."""
        view = memoryview(room)
        pos = start = 0
        for index, piece in enumerate(self.cose(records, count, bytes(64))):
            pos = _put(view, pos, piece)
            if index == 0:
                start = pos  # after the COSE head and the payload's byte-string head
        end = pos - 66
        view[end + 2 : pos] = self.sign(view[start:end])
        return view[:pos]


def _bytes_head(n):
    head = bytearray(5)
    return head[: _head(head, 0, 2, n)]
