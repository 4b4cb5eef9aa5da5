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

import struct
from binascii import unhexlify

# Round constants K[0..79] as (high, low) 32-bit halves, interleaved.
_K = struct.unpack(
    ">160I",
    unhexlify(
        "428a2f98d728ae227137449123ef65cdb5c0fbcfec4d3b2fe9b5dba58189dbbc3956c25bf348b53859f111f1b605d019"
        "923f82a4af194f9bab1c5ed5da6d8118d807aa98a303024212835b0145706fbe243185be4ee4b28c550c7dc3d5ffb4e2"
        "72be5d74f27b896f80deb1fe3b1696b19bdc06a725c71235c19bf174cf692694e49b69c19ef14ad2efbe4786384f25e3"
        "0fc19dc68b8cd5b5240ca1cc77ac9c652de92c6f592b02754a7484aa6ea6e4835cb0a9dcbd41fbd476f988da831153b5"
        "983e5152ee66dfaba831c66d2db43210b00327c898fb213fbf597fc7beef0ee4c6e00bf33da88fc2d5a79147930aa725"
        "06ca6351e003826f142929670a0e6e7027b70a8546d22ffc2e1b21385c26c9264d2c6dfc5ac42aed53380d139d95b3df"
        "650a73548baf63de766a0abb3c77b2a881c2c92e47edaee692722c851482353ba2bfe8a14cf10364a81a664bbc423001"
        "c24b8b70d0f89791c76c51a30654be30d192e819d6ef5218d69906245565a910f40e35855771202a106aa07032bbd1b8"
        "19a4c116b8d2d0c81e376c085141ab532748774cdf8eeb9934b0bcb5e19b48a8391c0cb3c5c95a634ed8aa4ae3418acb"
        "5b9cca4f7763e373682e6ff3d6b2b8a3748f82ee5defb2fc78a5636f43172f6084c87814a1f0ab728cc702081a6439ec"
        "90befffa23631e28a4506cebde82bde9bef9a3f7b2c67915c67178f2e372532bca273eceea26619cd186b8c721c0c207"
        "eada7dd6cde0eb1ef57d4f7fee6ed17806f067aa72176fba0a637dc5a2c898a6113f9804bef90dae1b710b35131c471b"
        "28db77f523047d8432caab7b40c724933c9ebe0a15c9bebc431d67c49c100d4c4cc5d4becb3e42b6597f299cfc657e2a"
        "5fcb6fab3ad6faec6c44198c4a475817"
    ),
)
_IV = struct.unpack(
    ">16I",
    unhexlify(
        "6a09e667f3bcc908bb67ae8584caa73b3c6ef372fe94f82ba54ff53a5f1d36f1"
        "510e527fade682d19b05688c2b3e6c1f1f83d9abfb41bd6b5be0cd19137e2179"
    ),
)
# The message schedule, pre-sized once: high halves then low halves.
_WH = [0] * 80
_WL = [0] * 80


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
    for i in range(16, 80):
        # sigma0 = rotr1 ^ rotr8 ^ shr7. (x & 1) << 31 instead of x << 31 keeps it a small int.
        xh = WH[i - 15]
        xl = WL[i - 15]
        s0h = (xh >> 1 | (xl & 1) << 31) ^ (xh >> 8 | xl << 24) ^ (xh >> 7)
        s0l = (xl >> 1 | (xh & 1) << 31) ^ (xl >> 8 | xh << 24) ^ (xl >> 7 | xh << 25)
        # sigma1 = rotr19 ^ rotr61 ^ shr6
        yh = WH[i - 2]
        yl = WL[i - 2]
        s1h = (yh >> 19 | yl << 13) ^ (yl >> 29 | yh << 3) ^ (yh >> 6)
        s1l = (yl >> 19 | yh << 13) ^ (yh >> 29 | yl << 3) ^ (yl >> 6 | yh << 26)
        lo = WL[i - 16] + (s0l & M) + WL[i - 7] + (s1l & M)
        WH[i] = (WH[i - 16] + (s0h & M) + WH[i - 7] + (s1h & M) + (lo >> 32)) & M
        WL[i] = lo & M
    ah, al, bh, bl, ch, cl, dh, dl, eh, el, fh, fl, gh, gl, hh, hl = state
    for i in range(80):
        # Sigma1(e) = rotr14 ^ rotr18 ^ rotr41; the high and low halves are summed separately with a carry.
        t1l = (
            hl
            + (((el >> 14 | eh << 18) ^ (el >> 18 | eh << 14) ^ (eh >> 9 | el << 23)) & M)
            + ((el & fl) ^ (~el & gl))
            + K[2 * i + 1]
            + WL[i]
        )
        t1h = (
            hh
            + (((eh >> 14 | el << 18) ^ (eh >> 18 | el << 14) ^ (el >> 9 | eh << 23)) & M)
            + ((eh & fh) ^ (~eh & gh))
            + K[2 * i]
            + WH[i]
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
        self._state = list(_IV)
        self._buffer = bytearray(128)
        self._fill = 0
        self._length = 0
        if data is not None:
            self.update(data)

    def update(self, data):
        if isinstance(data, str):
            raise TypeError("Strings must be encoded before hashing")
        view = memoryview(data)
        size = len(view)
        self._length += size
        buffer = self._buffer
        fill = self._fill
        start = 0
        if fill:
            start = min(128 - fill, size)
            buffer[fill : fill + start] = view[:start]
            fill += start
            if fill < 128:
                self._fill = fill
                return
            _compress(self._state, buffer, 0)
        # Whole blocks are hashed in place, without copying them into the buffer.
        while size - start >= 128:
            _compress(self._state, view, start)
            start += 128
        fill = size - start
        buffer[:fill] = view[start:]
        self._fill = fill

    def digest(self):
        state = list(self._state)
        buffer = bytearray(self._buffer)
        fill = self._fill
        buffer[fill] = 0x80
        for i in range(fill + 1, 128):
            buffer[i] = 0
        if fill >= 112:
            # No room for the 16-byte length: it goes in an extra block.
            _compress(state, buffer, 0)
            for i in range(112):
                buffer[i] = 0
        struct.pack_into(">QQ", buffer, 112, self._length >> 61, (self._length << 3) & 0xFFFFFFFFFFFFFFFF)
        _compress(state, buffer, 0)
        return struct.pack(">16I", *state)


def sha512(data):
    """The 64-byte SHA-512 digest of data."""
    return Sha512(data).digest()
