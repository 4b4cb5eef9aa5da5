"""The meter's CBOR codec, checked byte for byte against cbor2 (canonical) inside MicroPython."""

import json

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

scalars = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64 - 1),
    st.binary(max_size=40),
    st.text(max_size=20),
    st.booleans(),
    st.none(),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(st.integers(-100, 100), st.text(max_size=5)), children, max_size=5),
    ),
    max_leaves=20,
)

ROUND_TRIP = """
import binascii
from meter import cbor
for line in {hexes}:
    data = binascii.unhexlify(line)
    print(binascii.hexlify(cbor.dumps(cbor.loads(data))).decode())
"""


@settings(max_examples=8, deadline=None)
@given(st.lists(values, min_size=60, max_size=60))
def test_firmware_decodes_and_reencodes_cbor2_canonical_bytes_exactly(tmp_path_factory, batch):
    from tests.conftest import MicroPython

    encoded = [cbor2.dumps(value, canonical=True).hex() for value in batch]
    board = MicroPython(tmp_path_factory.mktemp("flash"))
    result = board.run(ROUND_TRIP.format(hexes=json.dumps(encoded)))
    assert result.stdout.split() == encoded


def test_firmware_encodes_like_cbor2_and_reads_floats_and_tags(micropython):
    code = """
from meter import cbor
print(cbor.dumps([0, 23, 24, -1, -25, 65536, 2**32, b"", "é", {-3: 1, 0: "x", -2: "b", 1: 2}]).hex())
print(cbor.loads(bytes.fromhex("f93e00")), cbor.loads(bytes.fromhex("fa3fc00000")), cbor.loads(bytes.fromhex("f5")))
tagged = cbor.loads(bytes.fromhex("d28141ff"))
print(tagged.tag, tagged.value)
"""
    lines = micropython.run(code).stdout.splitlines()
    expected = cbor2.dumps([0, 23, 24, -1, -25, 65536, 2**32, b"", "é", {-3: 1, 0: "x", -2: "b", 1: 2}],
                           canonical=True)
    assert lines[0] == expected.hex()
    assert lines[1] == "1.5 1.5 True"
    assert lines[2] == "18 [b'\\xff']"


@pytest.mark.parametrize(
    "hex_input, reason",
    [
        ("", "truncated"),
        ("1a0000", "truncated"),  # uint32 with 2 of 4 bytes
        ("9f01ff", "indefinite"),  # indefinite-length array
        ("0101", "trailing"),
        ("9b00000000ffffffff", "truncated"),  # array claims 4 billion items
        ("81" * 40 + "01", "deeply"),
        ("f8ff", "simple"),
    ],
)
def test_firmware_rejects_malformed_cbor_with_a_clear_reason(micropython, hex_input, reason):
    code = f"""
from meter import cbor
try:
    cbor.loads(bytes.fromhex("{hex_input}"))
    print("accepted")
except ValueError as err:
    print("rejected:", err)
"""
    output = micropython.run(code).stdout.strip()
    assert output.startswith("rejected:")
    assert reason in output
