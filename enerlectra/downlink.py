"""Downlinks: what the gateway tells a meter, signed with the gateway's Ed25519 key (format: docs/downlink.md).

A downlink is a COSE_Sign1 (kid = the gateway's kid) whose payload is a CBOR map with integer keys:

    credit grant  {0: 1, 1: meter kid (bytes), 2: grant id (uint), 3: credit Wh (uint), 4: issued at (Unix s)}
    time          {0: 2, 1: meter kid (bytes), 5: now (Unix s), 6: the meter's nonce (bytes)}

encode_grant / encode_time sign one; decode_downlink(message, verify_key, kid) verifies and validates one,
raising WireError or SignatureError. The meter applies a grant at most once: grant ids are strictly increasing
per meter, and a meter ignores any grant whose id is not above the last it applied.
"""

from dataclasses import dataclass

import cbor2
from nacl.signing import SigningKey, VerifyKey

from enerlectra.cose import decode_sign1, sign1, verify_sign1
from enerlectra.errors import WireError

TYPE = 0
METER_KID = 1
GRANT_ID = 2
CREDIT_WH = 3
ISSUED_AT_S = 4
NOW_S = 5
NONCE = 6

TYPE_GRANT = 1
TYPE_TIME = 2
CREDIT_WH_MAX = 10_000_000  # 10 MWh: far above any household top-up; a larger grant is a bug or an attack
NONCE_BYTES_MAX = 16


@dataclass(frozen=True, slots=True)
class CreditGrant:
    meter_kid: bytes
    grant_id: int
    credit_wh: int
    issued_at_s: int


@dataclass(frozen=True, slots=True)
class TimeSync:
    meter_kid: bytes
    now_s: int
    nonce: bytes


def gateway_kid(signing_key: SigningKey) -> bytes:
    """The gateway's kid: the first 8 bytes of its public key (meters pin the whole key)."""
    return bytes(signing_key.verify_key)[:8]


def encode_grant(grant: CreditGrant, signing_key: SigningKey) -> bytes:
    if not 0 < grant.credit_wh <= CREDIT_WH_MAX:
        raise ValueError(f"credit must be 1..{CREDIT_WH_MAX} Wh")
    if grant.grant_id <= 0:
        raise ValueError("grant id must be positive")
    payload = cbor2.dumps({TYPE: TYPE_GRANT, METER_KID: grant.meter_kid, GRANT_ID: grant.grant_id,
                           CREDIT_WH: grant.credit_wh, ISSUED_AT_S: grant.issued_at_s}, canonical=True)
    return sign1(payload, signing_key, gateway_kid(signing_key))


def encode_time(sync: TimeSync, signing_key: SigningKey) -> bytes:
    payload = cbor2.dumps({TYPE: TYPE_TIME, METER_KID: sync.meter_kid, NOW_S: sync.now_s, NONCE: sync.nonce},
                          canonical=True)
    return sign1(payload, signing_key, gateway_kid(signing_key))


def _uint(fields: dict, key: int, name: str, high: int) -> int:
    value = fields.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= high:
        raise WireError(f"downlink {name} must be an integer 0..{high}")
    return value


def decode_downlink(message: bytes, verify_key: VerifyKey, meter_kid: bytes) -> CreditGrant | TimeSync:
    fields_bytes = verify_sign1(decode_sign1(message), verify_key)
    try:
        fields = cbor2.loads(fields_bytes)
    except (cbor2.CBORDecodeError, ValueError) as err:
        raise WireError("downlink payload is not CBOR") from err
    if not isinstance(fields, dict):
        raise WireError("downlink payload must be a map")
    if fields.get(METER_KID) != meter_kid:
        raise WireError("downlink is addressed to another meter")
    if fields.get(TYPE) == TYPE_GRANT:
        grant = CreditGrant(
            meter_kid,
            _uint(fields, GRANT_ID, "grant id", 2**53),
            _uint(fields, CREDIT_WH, "credit", CREDIT_WH_MAX),
            _uint(fields, ISSUED_AT_S, "time", 2**40),
        )
        if grant.grant_id == 0 or grant.credit_wh == 0:
            raise WireError("downlink grant id and credit must be positive")
        return grant
    if fields.get(TYPE) == TYPE_TIME:
        nonce = fields.get(NONCE)
        if not isinstance(nonce, bytes) or len(nonce) > NONCE_BYTES_MAX:
            raise WireError("downlink nonce must be at most 16 bytes")
        return TimeSync(meter_kid, _uint(fields, NOW_S, "time", 2**40), nonce)
    raise WireError("downlink type must be 1 (grant) or 2 (time)")
