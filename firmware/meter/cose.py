"""COSE_Sign1 with EdDSA (RFC 9052), as the meter sends readings and receives downlinks.

sign1(payload, seed32, kid) -> bytes
    A tagged COSE_Sign1 (CBOR tag 18): protected header {alg: EdDSA (-8)}, unprotected {kid}, the payload
    embedded, signed with the Ed25519 seed.
verify1(message, public_key32) -> payload
    Raises ValueError when the message is malformed, the algorithm is not EdDSA, or the signature is bad.
"""

from meter import cbor, ed25519

try:
    from micropython import const
except ImportError:  # CPython, in tests

    def const(value):
        return value


TAG_SIGN1 = const(18)
HEADER_ALG = const(1)
HEADER_KID = const(4)
ALG_EDDSA = const(-8)

# The protected header never changes: encode it once.
PROTECTED_EDDSA = cbor.dumps({HEADER_ALG: ALG_EDDSA})


def _to_be_signed(protected, payload):
    # Sig_structure (RFC 9052 section 4.4), context "Signature1", no external AAD.
    return cbor.dumps(["Signature1", protected, b"", payload])


def sign1(payload, seed32, kid):
    signature = ed25519.sign(seed32, _to_be_signed(PROTECTED_EDDSA, payload))
    return cbor.dumps(cbor.Tag(TAG_SIGN1, [PROTECTED_EDDSA, {HEADER_KID: kid}, payload, signature]))


def decode1(message):
    """The parts of a COSE_Sign1: (protected bytes, unprotected map, payload, signature)."""
    item = cbor.loads(message)
    if isinstance(item, cbor.Tag):
        if item.tag != TAG_SIGN1:
            raise ValueError("not a COSE_Sign1")
        item = item.value
    if not isinstance(item, list) or len(item) != 4:
        raise ValueError("COSE_Sign1 must be an array of 4")
    protected, unprotected, payload, signature = item
    if not isinstance(protected, bytes) or not isinstance(unprotected, dict):
        raise ValueError("COSE_Sign1 headers malformed")
    if not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise ValueError("COSE_Sign1 payload or signature malformed")
    headers = cbor.loads(protected) if protected else {}
    if not isinstance(headers, dict) or headers.get(HEADER_ALG) != ALG_EDDSA:
        raise ValueError("COSE_Sign1 algorithm is not EdDSA")
    return protected, unprotected, payload, signature


def verify1(message, public_key32):
    protected, _unprotected, payload, signature = decode1(message)
    if not ed25519.verify(public_key32, _to_be_signed(protected, payload), signature):
        raise ValueError("bad signature")
    return payload
