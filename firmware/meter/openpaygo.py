"""OpenPAYGO Token decoding on the meter: 9-digit tokens, SipHash-2-4, counter-based replay protection.

    value, token_type, count, used_counts = decode("123456789", secret_key16, last_count, used_counts)

The same contract as the reference library's `OpenPAYGOTokenDecoder.decode_token` (openpaygo on PyPI, standard
tokens, full digit set, no value divider), so that the cooperative's issuer can generate tokens with that library:
- value: 0..995 for ADD_TIME and SET_TIME, 998 for DISABLE_PAYG, 999 for COUNTER_SYNC; None when the token is
  INVALID (no count up to last_count + 64 produces it) or ALREADY_USED (it decodes, but its count was used).
- count: the token's counter; the caller keeps the highest applied as last_count. used_counts: the recent
  counts applied (a list), returned updated, so that an ADD_TIME token up to 16 counts older than last_count
  that was never entered still works once (tokens entered out of order), and never twice.
One deliberate difference: the reference returns used_counts None when it was given none (and then cannot
remember an older token); this decoder treats None as [] and always returns the list.
Raises ValueError for a token that is not 1 to 9 digits or a key that is not 16 bytes.
Cost: one SipHash of 8 bytes per count tried, up to last_count + 65 (+101 for COUNTER_SYNC): the reference
walks the chain from count 0, because each token's chain depends on its value.
"""

import struct

from micropython import const

ADD_TIME = const(1)
SET_TIME = const(2)
DISABLE_PAYG = const(3)
COUNTER_SYNC = const(4)
INVALID = const(10)
ALREADY_USED = const(11)

_MAX_TOKEN_JUMP = const(64)
_MAX_TOKEN_JUMP_COUNTER_SYNC = const(100)
_MAX_UNUSED_OLDER_TOKENS = const(16)
_PAYG_DISABLE_VALUE = const(998)
_COUNTER_SYNC_VALUE = const(999)
_MASK64 = const(0xFFFFFFFFFFFFFFFF)


def _rotl(x, bits):
    return ((x << bits) | (x >> (64 - bits))) & _MASK64


def _rounds(v, count):
    v0, v1, v2, v3 = v
    for _ in range(count):
        v0 = (v0 + v1) & _MASK64
        v1 = _rotl(v1, 13) ^ v0
        v0 = _rotl(v0, 32)
        v2 = (v2 + v3) & _MASK64
        v3 = _rotl(v3, 16) ^ v2
        v0 = (v0 + v3) & _MASK64
        v3 = _rotl(v3, 21) ^ v0
        v2 = (v2 + v1) & _MASK64
        v1 = _rotl(v1, 17) ^ v2
        v2 = _rotl(v2, 32)
    return [v0, v1, v2, v3]


def siphash24(key, data):
    """SipHash-2-4 of data under a 16-byte key, as a 64-bit int (the value `siphash.SipHash_2_4.hash()` gives)."""
    k0 = int.from_bytes(key[:8], "little")
    k1 = int.from_bytes(key[8:16], "little")
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]
    size = len(data)
    end = size - size % 8
    for start in range(0, end + 8, 8):
        if start < end:
            word = int.from_bytes(data[start : start + 8], "little")
        else:  # the last block: the remaining bytes and the length in the top byte
            word = (size & 0xFF) << 56 | int.from_bytes(bytes(data[end:]) + b"\x00", "little")
        v[3] ^= word
        v = _rounds(v, 2)
        v[0] ^= word
    v[2] ^= 0xFF
    v = _rounds(v, 4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def _hash_to_token(value):
    # The two 32-bit halves XORed, then 30 bits folded below 10^9 (OpenPAYGO's _convert_to_29_5_bits).
    code = ((value >> 32) ^ value) & 0xFFFFFFFF
    code = code >> 2
    if code > 999999999:
        code -= 73741825
    return code


def _next_code(code, key):
    packed = struct.pack(">L", code)
    return _hash_to_token(siphash24(key, packed + packed))


def starting_code(key):
    return _hash_to_token(siphash24(key, key))


def _with_base(code, base):
    return code - code % 1000 + base


def _count_is_valid(count, last_count, value, token_type, used_counts):
    if value == _COUNTER_SYNC_VALUE:
        return count > last_count - _MAX_TOKEN_JUMP
    if count > last_count:
        return True
    return count > last_count - _MAX_UNUSED_OLDER_TOKENS and count not in used_counts and token_type == ADD_TIME


def _update_used_counts(used_counts, value, count, token_type):
    highest = max(used_counts) if used_counts else 0
    if count > highest:
        highest = count
    bottom = highest - _MAX_UNUSED_OLDER_TOKENS
    mark_all = token_type != ADD_TIME or value in (_COUNTER_SYNC_VALUE, _PAYG_DISABLE_VALUE)
    return [n for n in range(bottom, highest + 1) if mark_all or n == count or n in used_counts]


def decode(token, key, last_count, used_counts):
    """(value, token_type, count, used_counts) of a typed token; see the module doc."""
    if not isinstance(token, str) or not 0 < len(token) <= 9 or not token.isdigit():
        raise ValueError("a token is 1 to 9 digits")
    if len(key) != 16:
        raise ValueError("the OpenPAYGO key is 16 bytes")
    used_counts = used_counts or []
    start = starting_code(key)
    number = int(token)
    base = number % 1000
    value = base - start % 1000
    if value < 0:
        value += 1000
    jump = _MAX_TOKEN_JUMP_COUNTER_SYNC if value == _COUNTER_SYNC_VALUE else _MAX_TOKEN_JUMP
    code = _with_base(start, base)
    older = False
    for count in range(last_count + jump + 1):
        if _with_base(code, base) == number:
            if not count % 2:
                token_type = ADD_TIME
            elif value == _COUNTER_SYNC_VALUE:
                token_type = COUNTER_SYNC
            elif value == _PAYG_DISABLE_VALUE:
                token_type = DISABLE_PAYG
            else:
                token_type = SET_TIME
            if _count_is_valid(count, last_count, value, token_type, used_counts):
                return value, token_type, count, _update_used_counts(used_counts, value, count, token_type)
            older = True
        code = _next_code(code, key)
    return None, ALREADY_USED if older else INVALID, None, None
