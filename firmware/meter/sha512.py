"""SHA-512 (FIPS 180-4) in pure MicroPython: the board's hashlib has no SHA-512, and Ed25519 needs it.

Contract:
- ``sha512(data) -> bytes``: the 64-byte digest of ``data`` (bytes, bytearray or memoryview).
- ``Sha512(data=None)``: incremental hasher with ``update(data)`` and ``digest()``; ``digest()`` does not
  disturb the state, so more data may follow.
- A ``str`` raises TypeError (as CPython's hashlib does); nothing else is raised for valid buffers.

Each 64-bit word is kept as two 32-bit halves. On a 64-bit port those stay small ints, so a 128-byte block
allocates (almost) nothing, where 64-bit words as big ints allocated ~300 KB per block and ran ~3x slower.
Not re-entrant: all hashers share one message-schedule buffer (MicroPython firmware is single-threaded).
"""

import gc
import struct
from array import array


def _root_fractions(degree, count):
    """The first 64 bits of the fractional parts of the degree-th roots of the first count primes, as 32-bit
    (high, low) halves: FIPS 180-4's round constants (cube roots) and initial hash value (square roots).
    Computed at import, in integers: stored, they would take 1.3 KB of .mpy and as much heap again."""
    halves = array("I", range(2 * count))  # each written below; array(code, bytes(n)) would need n bytes twice
    prime = 1
    for i in range(count):
        prime += 1
        divisor = 2
        while divisor * divisor <= prime:
            if prime % divisor:
                divisor += 1
            else:
                prime += 1
                divisor = 2
        # root = floor(prime^(1/degree) * 2^64), by Newton's method from above (every prime here is below 2^9,
        # so its root is below 2^3).
        scaled = prime << (64 * degree)
        root = 1 << 67
        while True:
            better = ((degree - 1) * root + scaled // root ** (degree - 1)) // degree
            if better >= root:
                break
            root = better
        halves[2 * i] = (root >> 32) & 0xFFFFFFFF
        halves[2 * i + 1] = root & 0xFFFFFFFF
    return halves


_K = _root_fractions(3, 80)
_IV = _root_fractions(2, 8)
del _root_fractions  # needed only here: its code is collected
# The roots leave ~230 KB of short-lived big ints behind (under 1 ms here): collected now, so that the rest of
# this module and the next imports go low in the heap, not wherever that garbage left the allocator.
gc.collect()
# The message schedule, 16 words at a time (each W[t] needs W[t-16] to W[t-2] only): high and low halves.
# Shared by all hashers: allocated once, so hashing allocates next to nothing.
_WH = array("I", bytes(64))
_WL = array("I", bytes(64))


def _compress(state, block, offset):
    """Fold the 128-byte block at block[offset:] into state (16 x 32-bit halves, high first)."""
    M = 0xFFFFFFFF
    K = _K
    WH = _WH
    WL = _WL
    words = struct.unpack_from(">32I", block, offset)
    for i in range(16):
        WH[i] = words[2 * i]
        WL[i] = words[2 * i + 1]
    ah, al, bh, bl, ch, cl, dh, dl, eh, el, fh, fl, gh, gl, hh, hl = state
    for i in range(80):
        j = i & 15
        if i >= 16:
            # W[t] = sigma1(W[t-2]) + W[t-7] + sigma0(W[t-15]) + W[t-16], into W[t-16]'s slot.
            # sigma0 = rotr1 ^ rotr8 ^ shr7. (x & 1) << 31 instead of x << 31 keeps it a small int.
            xh = WH[(i - 15) & 15]
            xl = WL[(i - 15) & 15]
            s0h = (xh >> 1 | (xl & 1) << 31) ^ (xh >> 8 | xl << 24) ^ (xh >> 7)
            s0l = (xl >> 1 | (xh & 1) << 31) ^ (xl >> 8 | xh << 24) ^ (xl >> 7 | xh << 25)
            # sigma1 = rotr19 ^ rotr61 ^ shr6
            yh = WH[(i - 2) & 15]
            yl = WL[(i - 2) & 15]
            s1h = (yh >> 19 | yl << 13) ^ (yl >> 29 | yh << 3) ^ (yh >> 6)
            s1l = (yl >> 19 | yh << 13) ^ (yh >> 29 | yl << 3) ^ (yl >> 6 | yh << 26)
            lo = WL[j] + (s0l & M) + WL[(i - 7) & 15] + (s1l & M)
            WH[j] = (WH[j] + (s0h & M) + WH[(i - 7) & 15] + (s1h & M) + (lo >> 32)) & M
            WL[j] = lo & M
        # Sigma1(e) = rotr14 ^ rotr18 ^ rotr41; the high and low halves are summed separately with a carry.
        t1l = (
            hl
            + (((el >> 14 | eh << 18) ^ (el >> 18 | eh << 14) ^ (eh >> 9 | el << 23)) & M)
            + ((el & fl) ^ (~el & gl))
            + K[2 * i + 1]
            + WL[j]
        )
        t1h = (
            hh
            + (((eh >> 14 | el << 18) ^ (eh >> 18 | el << 14) ^ (el >> 9 | eh << 23)) & M)
            + ((eh & fh) ^ (~eh & gh))
            + K[2 * i]
            + WH[j]
            + (t1l >> 32)
        )
        t1l &= M
        hh = gh
        hl = gl
        gh = fh
        gl = fl
        fh = eh
        fl = el
        el = dl + t1l
        eh = (dh + t1h + (el >> 32)) & M
        el &= M
        dh = ch
        dl = cl
        # Sigma0(a) = rotr28 ^ rotr34 ^ rotr39, plus maj(a, b, c).
        t2l = (
            (((al >> 28 | ah << 4) ^ (ah >> 2 | al << 30) ^ (ah >> 7 | al << 25)) & M)
            + ((al & bl) ^ (al & cl) ^ (bl & cl))
            + t1l
        )
        t2h = (
            (((ah >> 28 | al << 4) ^ (al >> 2 | ah << 30) ^ (al >> 7 | ah << 25)) & M)
            + ((ah & bh) ^ (ah & ch) ^ (bh & ch))
            + t1h
            + (t2l >> 32)
        )
        ch = bh
        cl = bl
        bh = ah
        bl = al
        ah = t2h & M
        al = t2l & M
    final = (ah, al, bh, bl, ch, cl, dh, dl, eh, el, fh, fl, gh, gl, hh, hl)
    for i in range(0, 16, 2):
        lo = state[i + 1] + final[i + 1]
        state[i] = (state[i] + final[i] + (lo >> 32)) & M
        state[i + 1] = lo & M


class Sha512:
    """Incremental SHA-512: update() any number of times, then digest()."""

    digest_size = 64
    block_size = 128

    def __init__(self, data=None):
        self.state = list(_IV)
        self.buffer = bytearray(128)
        self.fill = 0
        self.length = 0
        if data is not None:
            self.update(data)

    def update(self, data):
        if isinstance(data, str):
            raise TypeError("Strings must be encoded before hashing")
        view = memoryview(data)
        size = len(view)
        self.length += size
        buffer = self.buffer
        fill = self.fill
        start = 0
        if fill:
            start = min(128 - fill, size)
            buffer[fill : fill + start] = view[:start]
            fill += start
            if fill < 128:
                self.fill = fill
                return
            _compress(self.state, buffer, 0)
        # Whole blocks are hashed in place, without copying them into the buffer.
        while size - start >= 128:
            _compress(self.state, view, start)
            start += 128
        fill = size - start
        buffer[:fill] = view[start:]
        self.fill = fill

    def digest(self):
        state = list(self.state)
        buffer = bytearray(self.buffer)
        fill = self.fill
        buffer[fill] = 0x80
        for i in range(fill + 1, 128):
            buffer[i] = 0
        if fill >= 112:
            # No room for the 16-byte length: it goes in an extra block.
            _compress(state, buffer, 0)
            for i in range(112):
                buffer[i] = 0
        struct.pack_into(">QQ", buffer, 112, self.length >> 61, (self.length << 3) & 0xFFFFFFFFFFFFFFFF)
        _compress(state, buffer, 0)
        return struct.pack(">16I", *state)


def sha512(data):
    """The 64-byte SHA-512 digest of data."""
    return Sha512(data).digest()
