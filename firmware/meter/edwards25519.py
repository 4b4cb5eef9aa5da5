"""The edwards25519 group for meter.ed25519: point encoding and scalar multiplication, pure MicroPython.

Contract:
- Points are extended coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, x*y = T/Z, all ints mod P.
- ``encode(point) -> bytes`` (32, RFC 8032 5.1.2); ``decode(s) -> point or None`` (None unless ``s`` is a
  canonical encoding of a curve point; RFC 8032 5.1.3).
- ``mul(k, point)`` and ``mul_base(k)`` for 0 <= k < L; ``mul_base`` reads 2^i*B from a table file while
  ``use_table(handle)`` has one, else it doubles B. With a table, ``mul_base`` raises OSError rather than
  use a file whose SHA-256 no longer matches.

Kept apart from meter.ed25519 (and the table builder apart again) because MicroPython parses a whole
module before compiling it: as one file, importing Ed25519 from source needed a 55 KB heap, split ~38 KB.
"""

import hashlib
from array import array

try:
    from micropython import const
except ImportError:  # CPython, so that tools and tests can import the module.

    def const(value):
        return value


P = const(0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFED)  # 2^255 - 19
L = const(0x1000000000000000000000000000000014DEF9DEA2F79CD65812631A5CF5D3ED)  # the order of B
_D = const(0x52036CEE2B6FFE738CC740797779E89800700A4D4141D8AB75EB4DCA135978A3)  # -121665/121666
D2 = const(0x2406D9DC56DFFCE7198E80F2EEF3D13000E0149A8283B156EBD69B9426B2F159)  # 2*D
_SQRT_M1 = const(0x2B8324804FC1DF0B2B4D00993DFBD7A72F431806AD2FE478C4EE1B274A0EA0B0)  # sqrt(-1)
BASE = (
    0x216936D3CD6E53FEC0A4E231FDD6DC5C692CC7609525A7B2C9562D608F25D51A,
    0x6666666666666666666666666666666666666666666666666666666666666658,
    1,
    0x67875F0FD78B766566EA4E8E64ABE37D20F09F80775152F56DDE8AB3A5B7DDA3,
)
IDENTITY = (0, 1, 1, 0)

# Table file layout: a header, then for i = 0..253 the point 2^i*B as (y-x, y+x, 2d*x*y), 32 bytes
# little-endian each, then the SHA-256 of all that. 254 entries: a scalar below L < 2^253 has at most 254
# NAF digits.
TABLE_MAGIC = b"enerlectra-B-v1\n"
TABLE_HEADER_SIZE = const(16)
TABLE_ENTRIES = const(254)
TABLE_ENTRY_SIZE = const(96)
# Entries per read: mul_base keeps a buffer of this many while a table is in use (larger reads are no faster).
TABLE_CHUNK_ENTRIES = const(2)
TABLE_CHUNK_SIZE = const(192)

_table = None  # (file, memoryview of a chunk buffer) while a table file is in use


def use_table(handle):
    """mul_base reads the table from the open binary file handle from now on; None: no table."""
    global _table
    if _table is not None:
        _table[0].close()
    _table = None
    if handle is not None:
        _table = (handle, memoryview(bytearray(TABLE_CHUNK_SIZE)))


def encode(point):
    X, Y, Z, _ = point
    zi = pow(Z, P - 2, P)  # pow(Z, -1, P) returns 0 on MicroPython
    x = X * zi % P
    return ((Y * zi % P) | (x & 1) << 255).to_bytes(32, "little")


def decode(s):
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        return None
    u = (y * y - 1) % P
    v = (_D * y * y + 1) % P
    # x = sqrt(u/v) with a single exponentiation (RFC 8032, 5.1.3).
    v3 = v * v * v % P
    x = u * v3 * pow(u * v3 * v3 * v % P, (P - 5) >> 3, P) % P
    vxx = v * x * x % P
    if vxx != u:
        if vxx != P - u:
            return None
        x = x * _SQRT_M1 % P
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return x, y, 1, x * y % P


def negate(point):
    X, Y, Z, T = point
    return (P - X) % P, Y, Z, (P - T) % P


def double(point):
    X, Y, Z, _ = point
    a = X * X % P
    b = Y * Y % P
    h = a + b
    e = h - (X + Y) * (X + Y) % P
    g = a - b
    f = Z * Z * 2 % P + g
    return e * f % P, g * h % P, f * g % P, e * h % P


def add(p1, p2):
    X1, Y1, Z1, T1 = p1
    X2, Y2, Z2, T2 = p2
    a = (Y1 - X1) * (Y2 - X2) % P
    b = (Y1 + X1) * (Y2 + X2) % P
    c = T1 * T2 % P * D2 % P
    d = Z1 * Z2 * 2 % P
    e = b - a
    f = d - c
    g = d + c
    h = b + a
    return e * f % P, g * h % P, f * g % P, e * h % P


def is_small_order(point):
    """True if [8]point is the identity (the point is of order 1, 2, 4 or 8)."""
    for _ in range(3):
        point = double(point)
    return point[0] % P == 0 and (point[1] - point[2]) % P == 0


def mul(k, point):
    """[k]point for 0 <= k < 2^253, left to right over a width-4 NAF (odd digits -7..7)."""
    digits = array("b", bytes(256))
    top = -1
    while k:
        top += 1
        if k & 1:
            digit = k & 15
            if digit > 8:
                digit -= 16
            k -= digit
            digits[top] = digit
        k >>= 1
    if top < 0:
        return IDENTITY
    # [1, 3, 5, 7]*point as (Y-X, Y+X, 2d*T, 2*Z): the operands of an addition, computed once.
    twice = double(point)
    multiples = [None] * 4
    for j in range(4):
        X, Y, Z, T = point
        multiples[j] = ((Y - X) % P, (Y + X) % P, T * D2 % P, Z * 2 % P)
        point = add(point, twice)
    # The top digit of a NAF is positive. Identity + multiple, with the identity's Y-X = Y+X = Z = 1, T = 0.
    ymx, ypx, _, z2 = multiples[digits[top] >> 1]
    e = ypx - ymx
    h = ypx + ymx
    X = e * z2 % P
    Y = z2 * h % P
    Z = z2 * z2 % P
    T = e * h % P
    # Written out rather than calls to double/add: calls and tuples cost ~15% here.
    for i in range(top - 1, -1, -1):
        a = X * X % P
        b = Y * Y % P
        h = a + b
        e = h - (X + Y) * (X + Y) % P
        g = a - b
        f = Z * Z * 2 % P + g
        X = e * f % P
        Y = g * h % P
        Z = f * g % P
        digit = digits[i]
        if digit == 0:
            T = None  # only an addition needs T (computed after the loop if it ends here)
            continue
        T = e * h % P
        if digit > 0:
            ymx, ypx, t2d, z2 = multiples[digit >> 1]
        else:
            ypx, ymx, t2d, z2 = multiples[-digit >> 1]
            t2d = P - t2d
        a = (Y - X) * ymx % P
        b = (Y + X) * ypx % P
        c = T * t2d % P
        d = Z * z2 % P
        e = b - a
        f = d - c
        g = d + c
        h = b + a
        X = e * f % P
        Y = g * h % P
        Z = f * g % P
        T = e * h % P
    if T is None:
        T = e * h % P
    return X, Y, Z, T


def mul_base(k):
    """[k]B for 0 <= k < L."""
    if _table is None:
        return mul(k, BASE)
    handle, view = _table
    handle.seek(TABLE_HEADER_SIZE)
    # The file is hashed again as it is read: a wrong point would give a wrong R for the same nonce r, and
    # two signatures with one r and different R reveal the secret key.
    digest = hashlib.sha256(TABLE_MAGIC)
    bits = k.to_bytes(32, "little")
    X = 0
    Y = 1
    Z = 1
    T = 0
    carry = 0
    # NAF digits low to high from the bits and a carry. Entry i is 2^i*B, so the order of the additions
    # does not matter and the file is read once, front to back, one chunk at a time.
    for i in range(TABLE_ENTRIES):
        slot = i % TABLE_CHUNK_ENTRIES
        if slot == 0:
            size = min(TABLE_CHUNK_SIZE, (TABLE_ENTRIES - i) * TABLE_ENTRY_SIZE)
            chunk = view[:size]
            if handle.readinto(chunk) != size:
                raise OSError("ed25519 table file is truncated")
            digest.update(chunk)
        value = (bits[i >> 3] >> (i & 7) & 1) + carry
        if value != 1:
            carry = value >> 1
            continue
        offset = slot * TABLE_ENTRY_SIZE
        if bits[(i + 1) >> 3] >> ((i + 1) & 7) & 1:
            # Digit -1: subtract 2^i*B, i.e. swap y-x with y+x and negate 2d*x*y.
            carry = 1
            ypx = int.from_bytes(view[offset : offset + 32], "little")
            ymx = int.from_bytes(view[offset + 32 : offset + 64], "little")
            c = T * (P - int.from_bytes(view[offset + 64 : offset + 96], "little")) % P
        else:
            carry = 0
            ymx = int.from_bytes(view[offset : offset + 32], "little")
            ypx = int.from_bytes(view[offset + 32 : offset + 64], "little")
            c = T * int.from_bytes(view[offset + 64 : offset + 96], "little") % P
        a = (Y - X) * ymx % P
        b = (Y + X) * ypx % P
        d = Z + Z
        e = b - a
        f = d - c
        g = d + c
        h = b + a
        X = e * f % P
        Y = g * h % P
        Z = f * g % P
        T = e * h % P
    if handle.read(32) != digest.digest():
        raise OSError("ed25519 table file changed since use_table")
    return X, Y, Z, T
