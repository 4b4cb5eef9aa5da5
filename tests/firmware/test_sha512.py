"""The meter's SHA-512, run inside MicroPython and checked byte for byte against CPython's hashlib."""

import hashlib
import json

import pytest

# Around the 128-byte block and the 112-byte padding boundary (the length field needs 16 bytes).
LENGTHS = [0, 1, 55, 56, 63, 64, 111, 112, 113, 127, 128, 129, 239, 240, 241, 255, 256, 257, 1000, 4096]


def message(length: int) -> bytes:
    return bytes((i * 7 + 3) & 255 for i in range(length))


def test_digests_match_hashlib_around_block_boundaries(micropython):
    code = f"""
from meter.sha512 import sha512
for n in {LENGTHS}:
    print(sha512(bytes((i * 7 + 3) & 255 for i in range(n))).hex())
"""
    assert micropython.run(code).stdout.split() == [hashlib.sha512(message(n)).hexdigest() for n in LENGTHS]


def test_incremental_updates_in_any_pieces_give_the_one_shot_digest(micropython):
    pieces = [0, 1, 127, 128, 129, 5, 111, 1, 300, 0, 17]
    code = f"""
from meter.sha512 import Sha512, sha512
data = bytes((i * 7 + 3) & 255 for i in range({sum(pieces)}))
hasher = Sha512()
start = 0
for size in {pieces}:
    hasher.update(memoryview(data)[start : start + size])
    start += size
    print(hasher.digest().hex())  # digest() must leave the state as it was
hasher = Sha512(bytearray(b"abc"))
print(hasher.digest().hex(), hasher.digest_size, hasher.block_size)
"""
    expected = []
    reference = hashlib.sha512()
    start = 0
    data = message(sum(pieces))
    for size in pieces:
        reference.update(data[start : start + size])
        start += size
        expected.append(reference.hexdigest())
    # FIPS 180-4's "abc" example.
    abc = (
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
    )
    expected.append(f"{abc} 64 128")
    assert micropython.run(code).stdout.splitlines() == expected


def test_a_str_is_refused_like_hashlib(micropython):
    code = """
from meter.sha512 import sha512
try:
    sha512("abc")
except TypeError:
    print("TypeError")
"""
    assert micropython.run(code).stdout.strip() == "TypeError"


@pytest.mark.parametrize("seed", [1, 2])
def test_random_messages_match_hashlib(micropython, seed):
    import random

    generator = random.Random(seed)
    messages = [generator.randbytes(generator.randrange(0, 700)) for _ in range(12)]
    code = f"""
from meter.sha512 import sha512
for text in {json.dumps([m.hex() for m in messages])}:
    print(sha512(bytes.fromhex(text)).hex())
"""
    assert micropython.run(code).stdout.split() == [hashlib.sha512(m).hexdigest() for m in messages]
