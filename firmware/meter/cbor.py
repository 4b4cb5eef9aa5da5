"""The CBOR subset the meter needs (RFC 8949), for MicroPython and CPython alike.

dumps(value) -> bytes   ints (to 64 bits), bytes, str, list/tuple, dict, float, bool, None, Tag
loads(data)  -> value   the same, plus half/single floats; raises ValueError on malformed or
                        trailing input, on indefinite lengths and on nesting deeper than 16.
put(out, pos, value) -> pos           writes value's encoding into the bytearray out at pos and returns
put_head(out, pos, major, n) -> pos   the position after it (a head alone: major type and argument n;
put_raw(out, pos, data) -> pos        bytes already encoded); with out None nothing is written, only the
                                      size is counted.
head(major, n) -> bytes               a head alone, e.g. head(2, 500) starts a 500-byte string.

Encoding is deterministic (shortest heads, map keys sorted by their encoded bytes, length first, as cbor2's
`canonical=True`): MicroPython dicts do not keep insertion order, and the meter signs the exact bytes it sends.

Memory: dumps counts the size first and writes into one buffer of that size. put/put_head let a caller (SenML
packs) write a large item piece by piece into one buffer without building it as Python objects first.
"""

import struct

try:
    from micropython import const
except ImportError:  # CPython, in tests

    def const(value):
        return value


_DEPTH_MAX = const(16)
_UINT64_MAX = const(0xFFFFFFFFFFFFFFFF)


class Tag:
    """A tagged item, e.g. Tag(18, [...]) for COSE_Sign1."""

    def __init__(self, tag, value):
        self.tag = tag
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Tag) and self.tag == other.tag and self.value == other.value


def put_head(out, pos, major, n):
    if n < 24:
        if out is not None:
            out[pos] = major << 5 | n
        return pos + 1
    if n < 0x100:
        info, fmt, size = 24, ">BB", 2
    elif n < 0x10000:
        info, fmt, size = 25, ">BH", 3
    elif n < 0x100000000:
        info, fmt, size = 26, ">BI", 5
    elif n <= _UINT64_MAX:
        info, fmt, size = 27, ">BQ", 9
    else:
        raise ValueError("integer too large for CBOR")
    if out is not None:
        struct.pack_into(fmt, out, pos, major << 5 | info, n)
    return pos + size


def head(major, n):
    out = bytearray(9)
    return bytes(out[: put_head(out, 0, major, n)])


def put_raw(out, pos, data):
    """Copies data (already CBOR, or a string's bytes after its head) into out at pos."""
    if out is not None:
        out[pos : pos + len(data)] = data
    return pos + len(data)


def put(out, pos, value):
    # None, True, False first: True is an int in CPython.
    if value is None:
        return put_head(out, pos, 7, 22)
    if value is True or value is False:
        return put_head(out, pos, 7, 21 if value else 20)
    if isinstance(value, int):
        if value >= 0:
            return put_head(out, pos, 0, value)
        return put_head(out, pos, 1, -1 - value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return put_raw(out, put_head(out, pos, 2, len(value)), value)
    if isinstance(value, str):
        value = value.encode()
        return put_raw(out, put_head(out, pos, 3, len(value)), value)
    if isinstance(value, (list, tuple)):
        pos = put_head(out, pos, 4, len(value))
        for item in value:
            pos = put(out, pos, item)
        return pos
    if isinstance(value, dict):
        # Keys by their encoding, length first, then bytes (keys differ: the items are never compared).
        entries = []
        for key, item in value.items():
            key = dumps(key)
            entries.append((len(key), key, item))
        entries.sort()
        pos = put_head(out, pos, 5, len(entries))
        for _, key, item in entries:
            pos = put(out, put_raw(out, pos, key), item)
        return pos
    if isinstance(value, float):
        if out is not None:
            struct.pack_into(">Bd", out, pos, 0xFB, value)
        return pos + 9
    if isinstance(value, Tag):
        return put(out, put_head(out, pos, 6, value.tag), value.value)
    raise TypeError("cannot encode %s as CBOR" % type(value))


def dumps(value):
    out = bytearray(put(None, 0, value))
    put(out, 0, value)
    return bytes(out)


def _item(data, pos, depth):
    """The item at data[pos:] and the position after it."""
    if depth > _DEPTH_MAX:
        raise ValueError("CBOR nested too deeply")
    end = len(data)
    if pos >= end:
        raise ValueError("CBOR truncated")
    major = data[pos] >> 5
    info = data[pos] & 0x1F
    pos += 1
    # The argument: the value itself below 24, else in the next 1, 2, 4 or 8 bytes.
    n = info
    if info >= 24:
        if info > 27:
            if major == 7:
                raise ValueError("CBOR simple value %d not supported" % info)
            raise ValueError("CBOR indefinite or reserved length not supported")
        size = 1 << (info - 24)
        if pos + size > end:
            raise ValueError("CBOR truncated")
        n = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    if major == 0:
        return n, pos
    if major == 1:
        return -1 - n, pos
    if major == 2 or major == 3:
        if pos + n > end:
            raise ValueError("CBOR truncated")
        value = bytes(data[pos : pos + n])
        if major == 3:
            try:
                value = str(value, "utf-8")
            except UnicodeError:
                raise ValueError("CBOR text is not UTF-8")
        return value, pos + n
    if major == 4 or major == 5:
        # Each item takes at least one byte: refuse counts the input cannot hold before allocating.
        if (major - 3) * n > end - pos:
            raise ValueError("CBOR truncated")
        result = [None] * n if major == 4 else {}
        for i in range(n):
            item, pos = _item(data, pos, depth + 1)
            if major == 4:
                result[i] = item
                continue
            if isinstance(item, (list, dict)):
                raise ValueError("CBOR map key must be a scalar")
            result[item], pos = _item(data, pos, depth + 1)
        return result, pos
    if major == 6:
        item, pos = _item(data, pos, depth + 1)
        return Tag(n, item), pos
    # Major 7: false, true, null, or a half, single or double float (n holds its bits).
    if 20 <= info <= 22:
        return (False, True, None)[info - 20], pos
    if info == 25:
        exponent = (n >> 10) & 0x1F
        fraction = n & 0x3FF
        if exponent == 0:
            magnitude = fraction * 2.0**-24
        elif exponent == 0x1F:
            magnitude = float("nan") if fraction else float("inf")
        else:
            magnitude = (1024 + fraction) * 2.0 ** (exponent - 25)
        return -magnitude if n & 0x8000 else magnitude, pos
    if info == 26:
        return struct.unpack(">f", data[pos - 4 : pos])[0], pos
    if info == 27:
        return struct.unpack(">d", data[pos - 8 : pos])[0], pos
    raise ValueError("CBOR simple value %d not supported" % info)


def loads(data):
    value, pos = _item(data, 0, 0)
    if pos != len(data):
        raise ValueError("CBOR has trailing bytes")
    return value
