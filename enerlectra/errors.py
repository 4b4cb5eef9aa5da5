"""Errors of the meter wire protocol, shared by every CPython peer of the meter."""


class WireError(ValueError):
    """A message from a meter is malformed: bad CBOR, COSE or SenML. The text says what, for the sender."""


class SignatureError(ValueError):
    """A message's signature does not verify with the key registered for its kid."""
