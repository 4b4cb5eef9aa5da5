"""The meter's identity and settings, from `config.json` on flash (written by tools/provision.py).

load(path) -> Config; raises ValueError naming the first missing or invalid field, so a bad file is reported
on the console instead of the meter running with a wrong identity.
"""

import json
from binascii import unhexlify

_DEFAULTS = {"port": 5683, "interval_s": 60, "sim_power_w": 400, "readings_max": 0, "credit_wh": 0}


class Config:
    def __init__(self, fields):
        for name in ("meter_id", "kid", "seed", "gateway"):
            if name not in fields:
                raise ValueError("config: missing " + name)
        self.meter_id = str(fields["meter_id"])
        try:
            self.kid = unhexlify(fields["kid"])
            self.seed = unhexlify(fields["seed"])
        except (ValueError, TypeError):
            raise ValueError("config: kid and seed must be hex")
        if len(self.seed) != 32:
            raise ValueError("config: seed must be 32 bytes")
        if not 0 < len(self.kid) <= 32:
            raise ValueError("config: kid must be 1..32 bytes")
        self.gateway = str(fields["gateway"])
        for name in _DEFAULTS:
            value = fields.get(name, _DEFAULTS[name])
            if not isinstance(value, int) or value < 0:
                raise ValueError("config: " + name + " must be a non-negative integer")
            setattr(self, name, value)


def load(path="config.json"):
    try:
        with open(path) as handle:
            fields = json.load(handle)
    except OSError:
        raise ValueError("config: " + path + " not found")
    except ValueError:
        raise ValueError("config: " + path + " is not JSON")
    if not isinstance(fields, dict):
        raise ValueError("config: must be a JSON object")
    return Config(fields)
