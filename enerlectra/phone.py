"""Zambian phone numbers: `+260` followed by 9 digits, the only form stored anywhere.

>>> normalise_phone("+260 97 123 4567")
'+260971234567'
>>> normalise_phone("0971234567")
'+260971234567'
"""

import re

_E164_ZAMBIA = re.compile(r"\+260\d{9}")


class PhoneNumberError(ValueError):
    """Not a Zambian mobile number."""


def normalise_phone(text: str) -> str:
    """The `+260XXXXXXXXX` form of a Zambian number written with spaces, dashes or a leading 0."""
    compact = re.sub(r"[\s\-()]", "", text or "")
    if re.fullmatch(r"0\d{9}", compact):
        compact = "+260" + compact[1:]
    elif re.fullmatch(r"260\d{9}", compact):
        compact = "+" + compact
    if not _E164_ZAMBIA.fullmatch(compact):
        raise PhoneNumberError(f"phone number must be +260 followed by 9 digits, got {text!r}")
    return compact
