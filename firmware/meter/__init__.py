# The meter firmware: small self-contained modules in pure MicroPython (the tools import some of them in CPython).
import gc
import sys

# A reading as the outbox keeps it and meter/pack.py encodes it: time_s, seq, energy_wh, energy_out_wh, power_w,
# credit_wh, depletion_s (NO_FORECAST when the meter has none). Here, in the package that stays loaded, so that
# neither module needs the other's code.
RECORD = "<7I"
RECORD_SIZE = 28
NO_FORECAST = 0xFFFFFFFF
READINGS_MAX = 256  # in a pack
COAP_BUFFER_SIZE = 1152  # CoAP's transmit buffer: a block of 1 KB and 128 bytes of header (meter/coap.py)


def unload(name):
    # Forgets module meter.<name>, so that its code is collected once nothing uses it: the meter loads rarely used
    # code (CoAP, crypto, downlinks, tokens, repairs) only for the phase that needs it (docs/meter.md, "Memory").
    sys.modules.pop("meter." + name, None)
    package = sys.modules.get("meter")
    if package is not None and name in package.__dict__:
        delattr(package, name)


def crypto(table_path=None):
    # meter.ed25519 for a signature or a verification, loaded (in a collected heap: room in one piece for its code)
    # with the base-point table file that boot checked, until crypto_release(): never resident beside CoAP.
    module = sys.modules.get("meter.ed25519")
    if module is not None:
        return module
    gc.collect()
    from meter import ed25519, edwards25519

    if table_path:
        edwards25519.use_table(open(table_path, "rb"))  # noqa: SIM115 (open while the code is loaded)
    return ed25519


def crypto_release():
    module = sys.modules.get("meter.edwards25519")
    if module is not None:
        module.use_table(None)  # closes the table file
    for name in ("ed25519", "edwards25519", "sha512"):
        unload(name)


def check_signatures(claims, key, table_path=None):
    # Step two of meter/downlink.py's three: the claims' signatures, with the Ed25519 code loaded and downlink.py
    # not. A claim whose signature fails gets "bad signature" as its outcome; the signed bytes are dropped.
    ed25519 = crypto(table_path)
    try:
        for claim in claims:
            if claim[0] is not None and not ed25519.verify(key, claim[0], claim[1]):
                claim[3] = "bad signature"
            claim[0] = claim[1] = None
    finally:
        crypto_release()


class Settings:
    # The meter's settings, filled in by meter/config.py. Defined here, in the package that stays loaded: an
    # instance of a class of config.py would keep all of config.py's code in RAM for as long as the meter runs.
    pass
