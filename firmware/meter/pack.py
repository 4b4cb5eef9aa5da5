"""Signed packs of readings, written in place: a SenML pack (CBOR) inside a COSE_Sign1, in one buffer.

    packer = Packer(kid, seed, readings_max=32, table_path="ed25519.tbl")
    payload = packer.payload(records, count)            # memoryview of the SenML pack alone
    signature = packer.sign(records, count)             # Ed25519 over the COSE Sig_structure
    message = packer.message(records, count, signature) # memoryview of the COSE_Sign1 bytes to send

`records` is a bytes-like of `count` readings packed with RECORD (meter/__init__.py: "<7I": time_s, seq, energy_wh,
energy_out_wh, power_w, credit_wh, depletion_s, NO_FORECAST when the meter has none; the pack carries the newest
reading's forecast only). The bytes are exactly what
enerlectra.senml.encode_readings and enerlectra.cose.sign1 make of the same readings (docs/senml.md; a test
checks it), so a signature kept from `sign` fits the message `message` rebuilds later: the outbox stores
readings and signature (a third of the message's size) and never signs twice. Ed25519 is deterministic, so
signing the same readings again also gives the same bytes, and a pack the gateway already has is acknowledged
again, never refused as a replay.

Memory: this module and its buffer for the largest pack (~3 KB for 32 readings) are loaded for the phases that
sign or write packs (meter/outbox.py `acquire`), and freed after: kept, they would hold their RAM while the meter
talks CoAP, verifies a downlink or runs the model. The SenML payload is written at a fixed offset and the CBOR
heads of the Sig_structure, then of the COSE_Sign1, are written right before it, so nothing is copied.
The Ed25519 code (~15 KB of RAM) is loaded by meter.crypto() for a signature, with the base-point table file
(checked at boot by ed25519.use_table), and unloaded by the outbox's release().
Raises ValueError for a count outside 1..readings_max.
"""

import gc
import struct
from binascii import hexlify

from micropython import const

from meter import NO_FORECAST, READINGS_MAX, RECORD, RECORD_SIZE, crypto

_PAYLOAD_AT = const(48)  # room for the longest head: COSE_Sign1 with a 32-byte kid (45 bytes)
_READING_BYTES_MAX = const(84)  # every record, energy_out too, each value and the time offset at 5 bytes
_FORECAST_BYTES_MAX = const(21)  # the newest reading's forecast record
_TRAILER_BYTES = const(66)  # the signature as a 64-byte string
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


def _head_size(n):
    return 1 if n < 24 else 2 if n < 0x100 else 3 if n < 0x10000 else 5


class Packer:
    def __init__(self, kid, seed, readings_max, table_path=None):
        if not 0 < readings_max <= READINGS_MAX:
            raise ValueError("a pack holds 1 to 256 readings")
        self.kid = kid
        self.seed = seed
        self.table_path = table_path
        self.readings_max = readings_max
        self._base_name = ("urn:dev:kid:" + hexlify(kid).decode() + ":").encode()
        self.view = None  # the buffer, while a phase uses it

    def buffer(self):
        """The buffer for the largest pack (a memoryview), allocated if a phase has not yet."""
        if self.view is None:
            gc.collect()  # room in one piece
            size = (_PAYLOAD_AT + 8 + len(self._base_name) + 12 + self.readings_max * _READING_BYTES_MAX
                    + _FORECAST_BYTES_MAX + _TRAILER_BYTES)
            self.view = memoryview(bytearray(size))
        return self.view

    def _senml(self, records, count):
        # Writes the SenML pack at _PAYLOAD_AT; returns where it ends.
        if not 0 < count <= self.readings_max:
            raise ValueError("pack size")
        view = self.buffer()
        optional = 0  # records beyond the four every reading has: energy_out when not 0, the forecast
        for index in range(count):
            if struct.unpack_from("<I", records, index * RECORD_SIZE + 12)[0]:
                optional += 1
        if struct.unpack_from("<I", records, (count - 1) * RECORD_SIZE + 24)[0] != NO_FORECAST:
            optional += 1  # a pack carries the newest reading's forecast only (docs/senml.md)
        pos = _head(view, _PAYLOAD_AT, 4, 4 * count + optional)
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
        return pos

    def _prefix(self, end, head):
        # Writes head, then the payload's byte-string head, right before the payload; returns where they start.
        size = end - _PAYLOAD_AT
        start = _PAYLOAD_AT - _head_size(size)
        _head(self.view, start, 2, size)
        start -= len(head)
        self.view[start : start + len(head)] = head
        return start

    def payload(self, records, count):
        """The SenML pack of these readings, as a memoryview of the buffer."""
        end = self._senml(records, count)
        return self.view[_PAYLOAD_AT:end]

    def sign(self, records, count):
        """The Ed25519 signature (64 bytes) of the COSE Sig_structure of these readings."""
        end = self._senml(records, count)
        start = self._prefix(end, _SIG_STRUCTURE)
        return crypto(self.table_path).sign(self.seed, self.view[start:end])

    def message(self, records, count, signature):
        """The COSE_Sign1 of these readings with their signature, as a memoryview of the buffer."""
        end = self._senml(records, count)
        kid = self.kid
        start = self._prefix(end, _COSE_HEAD + bytes((0x40 | len(kid),) if len(kid) < 24 else (0x58, len(kid))) + kid)
        view = self.view
        view[end] = 0x58
        view[end + 1] = 64
        view[end + 2 : end + 66] = signature
        return view[start : end + 66]
