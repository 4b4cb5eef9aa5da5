"""The meter's Ed25519, run inside MicroPython: RFC 8032 vectors, PyNaCl both ways, tampering, the table file."""

import hashlib
import json
import random
import sys

import pytest
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from tests.conftest import FIRMWARE

L = 2**252 + 27742317777372353535851937790883648493

# RFC 8032, section 7.1: TEST 1, TEST 2, TEST 3 as (secret key, public key, message, signature).
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]

# Prints, per (seed, message): public key, signature, and whether the signature verifies.
SIGN_ALL = """
from meter import ed25519
{setup}
for seed, message in {cases}:
    seed = bytes.fromhex(seed)
    message = bytes.fromhex(message)
    key = ed25519.public_key(seed)
    signature = ed25519.sign(seed, message)
    print(key.hex(), signature.hex(), ed25519.verify(key, message, signature))
"""

VERIFY_ALL = """
from meter import ed25519
{setup}
for key, message, signature in {cases}:
    print(ed25519.verify(bytes.fromhex(key), bytes.fromhex(message), bytes.fromhex(signature)))
"""


def sign_all(board, cases, setup="", heapsize="64K"):
    code = SIGN_ALL.format(setup=setup, cases=json.dumps([[s.hex(), m.hex()] for s, m in cases]))
    return [line.split() for line in board.run(code, heapsize=heapsize).stdout.splitlines()]


def verify_all(board, cases, setup=""):
    code = VERIFY_ALL.format(setup=setup, cases=json.dumps([[k.hex(), m.hex(), s.hex()] for k, m, s in cases]))
    lines = board.run(code).stdout.splitlines()
    return [line == "True" for line in lines if not line.startswith("built")]


def nacl_accepts(key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        VerifyKey(key).verify(message, signature)
        return True
    except (BadSignatureError, ValueError):
        return False


def random_cases(count: int, seed: int) -> list[tuple[bytes, bytes]]:
    generator = random.Random(seed)
    return [(generator.randbytes(32), generator.randbytes(generator.randrange(0, 300))) for _ in range(count)]


def nacl_signs(cases):
    return [
        [SigningKey(seed).verify_key.encode().hex(), SigningKey(seed).sign(message).signature.hex(), "True"]
        for seed, message in cases
    ]


def test_rfc8032_vectors_1_to_3(micropython):
    cases = [(bytes.fromhex(secret), bytes.fromhex(message)) for secret, _, message, _ in RFC8032]
    assert sign_all(micropython, cases) == [[key, signature, "True"] for _, key, _, signature in RFC8032]


def test_signatures_are_byte_identical_to_pynacl_and_pynacl_accepts_them(micropython):
    cases = random_cases(8, seed=1)
    results = sign_all(micropython, cases)
    assert results == nacl_signs(cases)
    for (_, message), (key, signature, _) in zip(cases, results, strict=True):
        assert nacl_accepts(bytes.fromhex(key), message, bytes.fromhex(signature))


def test_firmware_accepts_pynacl_signatures(micropython):
    signed = []
    for seed, message in random_cases(8, seed=2):
        key = SigningKey(seed)
        signed.append((key.verify_key.encode(), message, key.sign(message).signature))
    assert verify_all(micropython, signed) == [True] * len(signed)


def test_tampered_message_signature_or_key_is_refused_exactly_as_libsodium_does(micropython):
    generator = random.Random(3)
    cases = []
    for seed, message in random_cases(4, seed=4):
        key = SigningKey(seed)
        public = key.verify_key.encode()
        signature = key.sign(message).signature
        other = SigningKey(generator.randbytes(32)).verify_key.encode()
        s = int.from_bytes(signature[32:], "little")
        cases += [
            (public, message, signature),
            (public, message + b"\x00", signature),
            (other, message, signature),
            # S + L is the same scalar mod L but not canonical: both refuse it.
            (public, message, signature[:32] + (s + L).to_bytes(32, "little")),
        ]
        for _ in range(3):
            position = generator.randrange(64)
            flipped = bytearray(signature)
            flipped[position] ^= 1 << generator.randrange(8)
            cases.append((public, message, bytes(flipped)))
            flipped_key = bytearray(public)
            flipped_key[generator.randrange(32)] ^= 1 << generator.randrange(8)
            cases.append((bytes(flipped_key), message, signature))
    key, message, signature = cases[0]
    identity = (1).to_bytes(32, "little")
    p = 2**255 - 19
    # Signatures that satisfy [S]B = R + [k]A but use a point of small order: refused all the same.
    digest = hashlib.sha512(random_cases(4, seed=4)[0][0]).digest()  # the seed of cases[0]
    a = int.from_bytes(digest[:32], "little") & ((1 << 254) - 8) | (1 << 254)
    k = int.from_bytes(hashlib.sha512(identity + key + message).digest(), "little") % L
    cases += [
        (identity, message, signature),  # a key of small order
        ((p + 1).to_bytes(32, "little"), message, signature),  # a non-canonical key (y >= p)
        (key, message, identity + bytes(32)),  # R of small order
        (key, message, identity + (k * a % L).to_bytes(32, "little")),  # R = identity, S = k*a
        (identity, message, identity + bytes(32)),  # A = R = identity, S = 0
        (bytes(32), b"", bytes(64)),
    ]
    expected = [nacl_accepts(*case) for case in cases]
    assert expected.count(True) == 4  # the untampered ones
    assert verify_all(micropython, cases) == expected


def test_malformed_arguments_give_false_and_never_raise(micropython):
    code = """
from meter import ed25519
seed = bytes(range(32))
key = ed25519.public_key(seed)
signature = ed25519.sign(seed, b"reading")
for args in [
    (key, b"reading", signature),
    (key[:31], b"reading", signature),
    (key, b"reading", signature[:63]),
    (key + b"x", b"reading", signature),
    (None, b"reading", signature),
    (key, b"reading", None),
    (32, b"reading", 64),
    ("k" * 32, b"reading", signature),
    (bytearray(key), b"reading", memoryview(signature)),
]:
    print(ed25519.verify(*args))
for bad in (b"short", 32, None):
    try:
        ed25519.sign(bad, b"reading")
    except (ValueError, TypeError) as error:
        print(type(error).__name__)
"""
    lines = micropython.run(code).stdout.split()
    assert lines == ["True"] + ["False"] * 7 + ["True", "ValueError", "TypeError", "TypeError"]


TABLE_SETUP = 'print("built", ed25519.use_table("ed25519.tbl"))'


def test_table_is_built_once_and_gives_identical_results(micropython):
    cases = random_cases(4, seed=5)
    expected = nacl_signs(cases)
    assert sign_all(micropython, cases) == expected
    assert sign_all(micropython, cases, setup=TABLE_SETUP) == [["built", "True"], *expected]
    table = micropython.workdir / "ed25519.tbl"
    assert table.stat().st_size == 16 + 254 * 96 + 32
    assert not (micropython.workdir / "ed25519.tbl.tmp").exists()
    assert sign_all(micropython, cases, setup=TABLE_SETUP) == [["built", "False"], *expected]
    # Verify with the table (it is used for [S]B), switching it off again afterwards.
    signed = [(bytes.fromhex(k), m, bytes.fromhex(s)) for (_, m), (k, s, _) in zip(cases, expected, strict=True)]
    assert verify_all(micropython, signed, setup=TABLE_SETUP) == [True] * 4
    assert verify_all(micropython, signed, setup=TABLE_SETUP + "\ned25519.use_table(None)") == [True] * 4


def corrupt_flip_middle(data: bytearray) -> None:
    data[len(data) // 2] ^= 0x40


def corrupt_truncate(data: bytearray) -> None:
    del data[-100:]


def corrupt_header(data: bytearray) -> None:
    data[0:4] = b"XXXX"


def corrupt_first_entry_with_a_fresh_digest(data: bytearray) -> None:
    # Intact by its SHA-256 but wrong: only recomputing a point catches it.
    data[16] ^= 1
    data[-32:] = hashlib.sha256(bytes(data[:-32])).digest()


@pytest.mark.parametrize(
    "corrupt",
    [corrupt_flip_middle, corrupt_truncate, corrupt_header, corrupt_first_entry_with_a_fresh_digest],
)
def test_corrupt_table_is_detected_and_rebuilt(micropython, corrupt):
    cases = random_cases(2, seed=6)
    expected = nacl_signs(cases)
    assert sign_all(micropython, cases, setup=TABLE_SETUP)[0] == ["built", "True"]
    table = micropython.workdir / "ed25519.tbl"
    original = table.read_bytes()
    data = bytearray(original)
    corrupt(data)
    table.write_bytes(bytes(data))
    assert sign_all(micropython, cases, setup=TABLE_SETUP) == [["built", "True"], *expected]
    assert table.read_bytes() == original


def test_a_table_changed_while_in_use_stops_signing_until_use_table_rebuilds_it(micropython):
    # A wrong point gives a wrong R for the same nonce; two such signatures would reveal the key.
    seed, message = random_cases(1, seed=9)[0]
    code = f"""
from meter import ed25519
seed = bytes.fromhex("{seed.hex()}")
ed25519.use_table("ed25519.tbl")
print(ed25519.sign(seed, b"first").hex())
with open("ed25519.tbl", "r+b") as handle:
    handle.seek(5000)
    byte = handle.read(1)
    handle.seek(5000)
    handle.write(bytes([byte[0] ^ 1]))
try:
    ed25519.sign(seed, b"second")
except OSError as error:
    print("OSError", error)
print("built", ed25519.use_table("ed25519.tbl"))
print(ed25519.sign(seed, bytes.fromhex("{message.hex()}")).hex())
"""
    lines = micropython.run(code).stdout.splitlines()
    assert lines == [
        SigningKey(seed).sign(b"first").signature.hex(),
        "OSError ed25519 table file changed since use_table",
        "built True",
        SigningKey(seed).sign(message).signature.hex(),
    ]


def test_signing_with_the_table_fits_a_48k_heap(micropython):
    cases = random_cases(3, seed=7)
    expected = nacl_signs(cases)
    assert sign_all(micropython, cases, setup=TABLE_SETUP, heapsize="48K") == [["built", "True"], *expected]
    assert sign_all(micropython, cases, heapsize="48K") == expected


def test_modules_also_import_on_cpython(monkeypatch, tmp_path):
    # Tools (provisioning, the simulator) may reuse the firmware's code on CPython.
    monkeypatch.syspath_prepend(str(FIRMWARE))
    for name in [name for name in sys.modules if name == "meter" or name.startswith("meter.")]:
        monkeypatch.delitem(sys.modules, name)
    from meter import ed25519

    (seed, message), (table_seed, table_message) = random_cases(2, seed=8)
    try:
        assert ed25519.sign(seed, message) == SigningKey(seed).sign(message).signature
        assert ed25519.use_table(str(tmp_path / "ed25519.tbl")) is True
        signature = ed25519.sign(table_seed, table_message)
        assert signature == SigningKey(table_seed).sign(table_message).signature
        assert ed25519.verify(SigningKey(table_seed).verify_key.encode(), table_message, signature)
    finally:
        ed25519.use_table(None)
