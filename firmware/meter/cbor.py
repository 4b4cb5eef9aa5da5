"""The CBOR subset the meter needs (RFC 8949), for MicroPython and CPython alike.

dumps(value) -> bytes   ints (to 64 bits), bytes, str, list/tuple, dict, float, bool, None, Tag
loads(data)  -> value   the same, plus half/single floats; raises ValueError on malformed or
                        trailing input, on indefinite lengths and on nesting deeper than 16.

Encoding is deterministic (shortest heads, map keys sorted by their encoded bytes, length first, as cbor2's
`canonical=True`): MicroPython dicts do not keep insertion order, and the meter signs the exact bytes it sends.
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


def _head(major, n):
    if n < 24:
        return bytes((major << 5 | n,))
    if n < 0x100:
        return bytes((major << 5 | 24, n))
    if n < 0x10000:
        return struct.pack(">BH", major << 5 | 25, n)
    if n < 0x100000000:
        return struct.pack(">BI", major << 5 | 26, n)
    if n <= _UINT64_MAX:
        return struct.pack(">BQ", major << 5 | 27, n)
    raise ValueError("integer too large for CBOR")


def _encode(value, out):
    # bool before int: True is an int in CPython.
    if value is True:
        out.append(b"\xf5")
    elif value is False:
        out.append(b"\xf4")
    elif value is None:
        out.append(b"\xf6")
    elif isinstance(value, int):
        if value >= 0:
            out.append(_head(0, value))
        else:
            out.append(_head(1, -1 - value))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        out.append(_head(2, len(value)))
        out.append(bytes(value))
    elif isinstance(value, str):
        raw = value.encode()
        out.append(_head(3, len(raw)))
        out.append(raw)
    elif isinstance(value, (list, tuple)):
        out.append(_head(4, len(value)))
        for item in value:
            _encode(item, out)
    elif isinstance(value, dict):
        # Length first, then bytes; one sort, since MicroPython's sort is not stable.
        pairs = sorted(((dumps(key), item) for key, item in value.items()), key=_key_order)
        out.append(_head(5, len(pairs)))
        for key_bytes, item in pairs:
            out.append(key_bytes)
            _encode(item, out)
    elif isinstance(value, float):
        out.append(struct.pack(">Bd", 0xFB, value))
    elif isinstance(value, Tag):
        out.append(_head(6, value.tag))
        _encode(value.value, out)
    else:
        raise TypeError("cannot encode %s as CBOR" % type(value))


def _key_order(pair):
    return (len(pair[0]), pair[0])


def dumps(value):
    out = []
    _encode(value, out)
    return b"".join(out)


def _half_to_float(half):
    exponent = (half >> 10) & 0x1F
    fraction = half & 0x3FF
    if exponent == 0:
        magnitude = fraction * 2.0**-24
    elif exponent == 0x1F:
        magnitude = float("nan") if fraction else float("inf")
    else:
        magnitude = (1024 + fraction) * 2.0 ** (exponent - 25)
    return -magnitude if half & 0x8000 else magnitude


class _Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        end = self.pos + n
        if end > len(self.data):
            raise ValueError("CBOR truncated")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def argument(self, info):
        if info < 24:
            return info
        if info == 24:
            return self.take(1)[0]
        if info == 25:
            return struct.unpack(">H", self.take(2))[0]
        if info == 26:
            return struct.unpack(">I", self.take(4))[0]
        if info == 27:
            return struct.unpack(">Q", self.take(8))[0]
        raise ValueError("CBOR indefinite or reserved length not supported")

    def item(self, depth):
        if depth > _DEPTH_MAX:
            raise ValueError("CBOR nested too deeply")
        initial = self.take(1)[0]
        major = initial >> 5
        info = initial & 0x1F
        if major == 7:
            return self.simple(info)
        n = self.argument(info)
        if major == 0:
            return n
        if major == 1:
            return -1 - n
        if major == 2:
            return bytes(self.take(n))
        if major == 3:
            try:
                return str(self.take(n), "utf-8")
            except UnicodeError:
                raise ValueError("CBOR text is not UTF-8")
        if major == 4:
            # Each item takes at least one byte: refuse counts the input cannot hold before allocating.
            if n > len(self.data) - self.pos:
                raise ValueError("CBOR truncated")
            return [self.item(depth + 1) for _ in range(n)]
        if major == 5:
            if 2 * n > len(self.data) - self.pos:
                raise ValueError("CBOR truncated")
            result = {}
            for _ in range(n):
                key = self.item(depth + 1)
                if isinstance(key, (list, dict)):
                    raise ValueError("CBOR map key must be a scalar")
                result[key] = self.item(depth + 1)
            return result
        return Tag(n, self.item(depth + 1))  # major 6

    def simple(self, info):
        if info == 20:
            return False
        if info == 21:
            return True
        if info == 22:
            return None
        if info == 25:
            return _half_to_float(struct.unpack(">H", self.take(2))[0])
        if info == 26:
            return struct.unpack(">f", self.take(4))[0]
        if info == 27:
            return struct.unpack(">d", self.take(8))[0]
        raise ValueError("CBOR simple value %d not supported" % info)


def loads(data):
    reader = _Reader(data)
    value = reader.item(0)
    if reader.pos != len(data):
        raise ValueError("CBOR has trailing bytes")
    return value
