"""Ed25519 signatures (RFC 8032) in pure MicroPython, byte-identical to libsodium/PyNaCl.

Contract:
- ``public_key(seed) -> bytes``: the 32-byte public key of a 32-byte seed (the RFC's private key).
- ``sign(seed, message) -> bytes``: the 64-byte signature R || S of a bytes-like ``message``, or of the
  concatenation of a tuple of bytes-likes, or of the pieces an iterator gives, made anew by calling ``message``
  for each of the two passes over it (meter/pack.py signs a pack so, never whole in RAM).
  A seed that is not 32 bytes raises ValueError. The expanded key of the last seed is cached.
- ``verify(public_key, message, signature) -> bool``: True only for a valid signature of ``message`` (as
  for sign); a malformed or wrong key or signature gives False, never an exception (only a changed table
  file raises, see below).
  The checks are libsodium's: S < L, the key is the canonical encoding of a point not of small order,
  R is not of small order, and the encoding of [S]B - [k]A equals R byte for byte (cofactorless).
- ``use_table(path) -> bool``: public_key, sign and verify read the 254 points 2^i*B from the file at
  ``path`` from now on (24 KB of flash, ~1 KB of RAM, about a third off a signature). The file is checked
  and rebuilt if missing or corrupt (meter.ed25519_table); returns True when it was (re)built.
  ``use_table(None)`` goes back to computing without a table. Raises OSError if the file cannot be
  written or read back (the previous mode then stays). The checking code is needed at boot only:
  use_table unloads it again (~2 KB of heap). While a table is in use, public_key, sign and verify
  re-hash the file as they read it and raise OSError if it changed, rather than sign with a wrong point.

Limits: sign runs in a 48 KB heap. Python big ints are not constant time, so the time to sign leaks a
little about each nonce: acceptable for a meter that reports over a radio link, not for a shared host.
As with any deterministic EdDSA, a fault injected while computing R (a glitch) can reveal the key.
"""

import gc
import sys

from meter import edwards25519 as ed
from meter.sha512 import Sha512

_BUFFERS = (bytes, bytearray, memoryview)  # bytes(32) of an int would be a valid-looking seed or key
_expanded = None  # (seed, secret scalar, nonce prefix, public key) of the last seed


def use_table(path):
    """Use the base-point table file at path (built if missing or corrupt); None: no table."""
    if path is None:
        ed.use_table(None)
        return False
    from meter import ed25519_table  # only a meter with a table pays for loading it

    try:
        handle, built = ed25519_table.open_table(path)
    finally:
        # Needed again only at the next boot: unloaded, so that its code and constants are collected.
        del sys.modules["meter.ed25519_table"]
        delattr(sys.modules["meter"], "ed25519_table")
    # The chunk buffer, kept while the table is in use, goes low in the heap (where that code was, perhaps)
    # rather than above the garbage of the check.
    gc.collect()
    ed.use_table(handle)
    return built


def _expand(seed):
    global _expanded
    if not isinstance(seed, _BUFFERS):
        raise TypeError("an Ed25519 seed is 32 bytes")
    seed = bytes(seed)
    if len(seed) != 32:
        raise ValueError("an Ed25519 seed is 32 bytes")
    cached = _expanded
    if cached is not None and cached[0] == seed:
        return cached
    digest = Sha512(seed).digest()
    a = int.from_bytes(digest[:32], "little") & ((1 << 254) - 8) | (1 << 254)
    # B has order L, so [a]B = [a mod L]B, and the table covers scalars below L.
    _expanded = (seed, a, digest[32:], ed.encode(ed.mul_base(a % ed.L)))
    return _expanded


def public_key(seed):
    """The 32-byte public key of a 32-byte seed."""
    return _expand(seed)[3]


def _hash_mod_l(hasher, message):
    # Completes the hash with the message (bytes-like, a tuple of pieces, or a function giving them) and reduces
    # it mod L.
    if isinstance(message, _BUFFERS):
        hasher.update(message)
    else:
        for piece in message() if callable(message) else message:
            hasher.update(piece)
    return int.from_bytes(hasher.digest(), "little") % ed.L


def sign(seed, message):
    """The 64-byte Ed25519 signature of message under the 32-byte seed."""
    _, a, prefix, key = _expand(seed)
    r = _hash_mod_l(Sha512(prefix), message)
    encoded_r = ed.encode(ed.mul_base(r))
    hasher = Sha512(encoded_r)
    hasher.update(key)
    k = _hash_mod_l(hasher, message)
    return encoded_r + ((r + k * a) % ed.L).to_bytes(32, "little")


def verify(public_key, message, signature):
    """True if signature is a valid Ed25519 signature of message by public_key."""
    if not (isinstance(public_key, _BUFFERS) and isinstance(signature, _BUFFERS)):
        return False
    public_key = bytes(public_key)
    signature = bytes(signature)
    if len(public_key) != 32 or len(signature) != 64:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= ed.L:
        return False
    point = ed.decode(public_key)
    if point is None or ed.is_small_order(point):
        return False
    hasher = Sha512(signature[:32])
    hasher.update(public_key)
    k = _hash_mod_l(hasher, message)
    check = ed.add(ed.mul_base(s), ed.mul(k, ed.negate(point)))
    return ed.encode(check) == signature[:32] and not ed.is_small_order(check)
