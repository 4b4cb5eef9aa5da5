# The meter firmware: small self-contained modules in pure MicroPython.
import sys


def unload(name):
    # Forgets module meter.<name>, so that its code is collected once nothing uses it: the meter loads rarely used
    # code (CoAP, crypto, downlinks, tokens, repairs) only for the phase that needs it (docs/meter.md, "Memory").
    sys.modules.pop("meter." + name, None)
    package = sys.modules.get("meter")
    if package is not None and name in package.__dict__:
        delattr(package, name)


class Settings:
    # The meter's settings, filled in by meter/config.py. Defined here, in the package that stays loaded: an
    # instance of a class of config.py would keep all of config.py's code in RAM for as long as the meter runs.
    pass
