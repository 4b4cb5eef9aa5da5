"""Downlinks from the gateway, verified before the meter acts on them (docs/downlink.md).

In three steps, so that this module and the Ed25519 code are never in RAM together (meter/device.py, _check):
read(downlinks, kid) -> claims: what meter/link.py fetched, (nonce, signed time) from GET /t and (None, CBOR array
    of signed grants) from GET /g, as one claim per message: [signed bytes, signature, kind, outcome].
meter.check_signatures(claims, gateway_key, table_path): each claim's Ed25519 signature against the pinned
    gateway key (this module unloaded meanwhile); the outcome of a claim whose signature fails becomes
    "bad signature", and the signed bytes are dropped.
apply(device, claims): a signed time sets the clock; each signed grant whose id is above state.grant_id is applied,
    in order, and its id recorded (after a lost state: only recorded, see meter/state.py); every rejected
    message is reported. The caller saves the state.
A message is a COSE_Sign1 (tag 18, protected header {alg: EdDSA}) whose payload is a CBOR map of the right type,
addressed to this meter (kid), with every field in range, and for time echoing the nonce the meter sent (an old
answer cannot set the clock back). The first problem found is reported, in that order, the signature checked
right after the COSE structure; nothing is acted on before its signature is.

A small CBOR reader of its own (ints, strings, arrays, maps, one tag; definite lengths; nesting <= 4): the
general codec (meter/cbor.py) and COSE module would cost the meter RAM for a message it reads a few times a day.
Loaded only while downlinks are checked.
"""

import struct

from micropython import const

from meter import display

_GRANTS = const(0)  # a claim about the list of grants itself: malformed, or empty
_TYPE_GRANT = const(1)
_TYPE_TIME = const(2)
_CREDIT_WH_MAX = const(10000000)
_TIME_MAX_S = const(1099511627776)  # 2^40, as the gateway
_PROTECTED_EDDSA = b"\xa1\x01\x27"  # {1: -8}
_SIG_STRUCTURE = b"\x84\x6aSignature1"


def _item(data, pos, depth):
    # (value, next position) of the CBOR item at pos.
    if depth > 4:
        raise ValueError("CBOR nested too deeply")
    initial = data[pos]
    major, info = initial >> 5, initial & 31
    pos += 1
    if info < 24:
        n = info
    elif info < 28:
        size = 1 << (info - 24)
        n = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    else:
        raise ValueError("CBOR length not supported")
    if major == 0:
        return n, pos
    if major == 1:
        return -1 - n, pos
    if major in (2, 3):
        if pos + n > len(data):
            raise ValueError("CBOR truncated")
        value = bytes(data[pos : pos + n])
        return (value if major == 2 else value.decode()), pos + n
    if major == 4 or major == 5:
        if n > len(data) - pos:
            raise ValueError("CBOR truncated")
        items = []
        for _ in range(n * (major - 3)):
            value, pos = _item(data, pos, depth + 1)
            items.append(value)
        if major == 4:
            return items, pos
        return {items[i]: items[i + 1] for i in range(0, len(items), 2)}, pos
    if major == 6:
        value, pos = _item(data, pos, depth + 1)
        return (n, value), pos
    if major == 7 and info in (20, 21, 22):
        return (False, True, None)[info - 20], pos
    raise ValueError("CBOR item not supported")


def _loads(data):
    try:
        value, end = _item(data, 0, 0)
    except (IndexError, TypeError, UnicodeError) as err:
        raise ValueError("CBOR malformed: " + repr(err))
    if end != len(data):
        raise ValueError("CBOR has trailing bytes")
    return value


def _bstr_head(length):
    if length > 255:
        return struct.pack(">BH", 0x59, length)
    return bytes((0x58, length)) if length > 23 else bytes((0x40 | length,))


def _uint(fields, key, low, high):
    value = fields.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError("downlink field %d out of range" % key)
    return value


def _claim(message, kid, kind, nonce):
    # [signed bytes, signature, kind, outcome]: outcome (grant id, credit Wh) or the time, if the signature holds;
    # else the error to report. No signed bytes: the message is not even a COSE_Sign1 with EdDSA.
    try:
        cose = _loads(message) if isinstance(message, (bytes, bytearray)) else None
        if not (isinstance(cose, tuple) and cose[0] == 18 and isinstance(cose[1], list) and len(cose[1]) == 4):
            raise ValueError("not a COSE_Sign1")
        protected, _, payload, signature = cose[1]
        if protected != _PROTECTED_EDDSA or not isinstance(payload, bytes) or not isinstance(signature, bytes):
            raise ValueError("COSE_Sign1 is not EdDSA")
    except ValueError as err:
        return [None, None, kind, str(err)]
    signed = _SIG_STRUCTURE + _bstr_head(3) + protected + b"\x40" + _bstr_head(len(payload)) + payload
    try:
        fields = _loads(payload)
        if not isinstance(fields, dict):
            raise ValueError("downlink payload must be a map")
        if fields.get(1) != kid:
            raise ValueError("downlink addressed to another meter")
        if fields.get(0) != kind:
            raise ValueError("downlink of another type")
        if kind == _TYPE_GRANT:
            outcome = (_uint(fields, 2, 1, 1 << 53), _uint(fields, 3, 1, _CREDIT_WH_MAX))
        elif fields.get(6) != nonce:
            raise ValueError("time downlink does not echo our nonce")
        else:
            outcome = _uint(fields, 5, 0, _TIME_MAX_S)
    except ValueError as err:
        outcome = str(err)
    return [signed, signature, kind, outcome]


def read(downlinks, kid):
    """The downlinks' messages as claims, in order, for meter.check_signatures (the Ed25519 code, this module
    unloaded) and then apply()."""
    claims = []
    for nonce, payload in downlinks:
        if nonce is not None:
            claims.append(_claim(payload, kid, _TYPE_TIME, nonce))
            continue
        try:
            items = _loads(payload)
            if not isinstance(items, list):
                raise ValueError("grants must be an array")
        except ValueError as err:
            claims.append([None, None, _GRANTS, str(err)])
            continue
        if not items:
            claims.append([None, None, _GRANTS, None])  # none new: in step with the gateway
        for message in items:
            claims.append(_claim(message, kid, _TYPE_GRANT, None))
    return claims


def apply(device, claims):
    st = device.state
    for _, _, kind, outcome in claims:
        if isinstance(outcome, str):
            print("grant rejected:" if kind == _TYPE_GRANT else "downlink rejected:", outcome)
        elif kind == _TYPE_TIME:
            if device.clock.set(outcome):
                print("time set to %d by the gateway" % outcome)
        elif kind == _GRANTS:
            if st.grant_resync:
                st.grant_resync = False
                print("grants: in step with the gateway again at grant %d" % st.grant_id)
        else:
            grant_id, credit_wh = outcome
            if grant_id <= st.grant_id:
                print("grant %d ignored: already applied" % grant_id)
                continue
            st.grant_id = grant_id
            if st.grant_resync:
                print("grant %d skipped: the state was lost and it may have been applied" % grant_id)
                continue
            device.account.top_up(credit_wh)
            print("grant %d applied: +%d Wh, credit %d Wh" % (grant_id, credit_wh, st.credit_wh))
            device.screen.note("TOP UP +" + display.kwh(credit_wh)[:-2] + "kWh", device.clock.now_s() + 15)
