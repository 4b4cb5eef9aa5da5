"""COSE_Sign1 interoperability: the meter's firmware, the gateway's codec and pycose agree byte for byte."""

import cbor2
import pytest
from nacl.signing import SigningKey
from pycose.keys import OKPKey
from pycose.keys.curves import Ed25519
from pycose.messages import Sign1Message

from enerlectra.cose import decode_sign1, sign1, verify_sign1
from enerlectra.errors import SignatureError

SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")  # RFC 8032 test 1
KID = b"meter-01"
PAYLOAD = cbor2.dumps([{-2: "urn:dev:kid:6d657465722d3031:", -3: 1_790_000_000, 0: "seq", 2: 1}], canonical=True)


def test_firmware_message_is_byte_identical_to_gateway_and_verifies(micropython):
    code = f"""
from meter import cose
print(cose.sign1({PAYLOAD!r}, {SEED!r}, {KID!r}).hex())
"""
    from_meter = bytes.fromhex(micropython.run(code).stdout.strip())
    assert from_meter == sign1(PAYLOAD, SigningKey(SEED), KID)  # Ed25519 is deterministic
    assert verify_sign1(decode_sign1(from_meter), SigningKey(SEED).verify_key) == PAYLOAD


def test_firmware_verifies_gateway_messages_and_refuses_tampered_ones(micropython):
    good = sign1(PAYLOAD, SigningKey(SEED), KID)
    tampered = bytearray(good)
    tampered[-70] ^= 1  # a payload byte
    public = bytes(SigningKey(SEED).verify_key)
    code = f"""
from meter import cose
print(cose.verify1({good!r}, {public!r}) == {PAYLOAD!r})
for bad in ({bytes(tampered)!r}, b"\\xd2\\x84"):
    try:
        cose.verify1(bad, {public!r})
        print("accepted")
    except ValueError as err:
        print("refused")
"""
    assert micropython.run(code).stdout.split() == ["True", "refused", "refused"]


def test_pycose_verifies_what_the_gateway_signs_and_the_gateway_verifies_pycose():
    public = bytes(SigningKey(SEED).verify_key)
    key = OKPKey(crv=Ed25519, d=SEED, x=public, optional_params={"ALG": "EdDSA"})
    ours = Sign1Message.decode(sign1(PAYLOAD, SigningKey(SEED), KID))
    ours.key = key
    assert ours.verify_signature()
    assert ours.payload == PAYLOAD

    theirs = Sign1Message(phdr={"ALG": "EdDSA"}, uhdr={"KID": KID}, payload=PAYLOAD)
    theirs.key = key
    decoded = decode_sign1(theirs.encode())
    assert decoded.kid == KID
    assert verify_sign1(decoded, SigningKey(SEED).verify_key) == PAYLOAD
    with pytest.raises(SignatureError):
        verify_sign1(decoded, SigningKey.generate().verify_key)
