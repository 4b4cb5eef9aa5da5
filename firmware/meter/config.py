"""The meter's identity and settings, from `config.json` on flash (written by tools/provision.py).

load(path) -> meter.Settings; raises ValueError naming the first missing or invalid field, so a bad file is reported
on the console instead of the meter running with a wrong identity.
recover(path, backup) -> meter.Settings or None: load(path); when that works, the file is also kept as `backup`
(config.bak); when it does not, the backup is loaded and copied back over the damaged file. None when both
are unusable (the caller waits for a new provisioning).

Fields: meter_id, kid (hex), seed (hex, 32 bytes), gateway (host); optional: gateway_key (hex, 32 bytes: the
gateway's Ed25519 public key, which signs downlinks; without it grants and time are not accepted), openpaygo_key
(hex, 16 bytes: the OpenPAYGO token secret; without it tokens are refused), wifi_ssid, wifi_password, and the
integers in _INTEGERS (docs/meter.md explains each).
"""

import json
from binascii import unhexlify

from meter import Settings, flash

# name: (default, lowest allowed). All non-negative integers.
_INTEGERS = {
    "port": (5683, 1),
    "interval_s": (60, 1),
    "readings_max": (0, 0),  # stop after this many readings (tests, simulations); 0: run forever
    "run_s": (0, 0),  # stop after this many seconds of (virtual) time; 0: run forever
    "credit_wh": (0, 0),  # the credit of a freshly provisioned meter
    "sim_power_w": (400, 0),  # the virtual board's load when board.json gives no profile
    "tick_ms": (1000, 10),
    "low_credit_wh": (1000, 0),
    "emergency_wh": (200, 0),
    "token_unit_wh": (100, 1),  # Wh per unit of an OpenPAYGO token's value (995 units at most)
    "pack_readings": (32, 1),
    "outbox_readings_max": (4096, 4),
    "time_sync_s": (21600, 60),
    "ack_timeout_ms": (2000, 10),
    "max_retransmit": (4, 0),
    "backoff_max_s": (900, 1),
    "console_keys": (1, 0),  # 1: keys typed on the serial console count as keypad keys
    "utc_offset_s": (7200, 0),  # for the clock on the screen (Zambia: UTC+2)
}


def _hex(fields, name, length, required):
    value = fields.get(name)
    if value is None and not required:
        return None
    try:
        raw = unhexlify(value)
    except (ValueError, TypeError):
        raise ValueError("config: " + name + " must be hex")
    if length and len(raw) != length:
        raise ValueError("config: %s must be %d bytes" % (name, length))
    return raw


def parse(fields):
    """The Settings in `fields` (config.json's object), checked."""
    for name in ("meter_id", "kid", "seed", "gateway"):
        if name not in fields:
            raise ValueError("config: missing " + name)
    settings = Settings()
    settings.meter_id = str(fields["meter_id"])
    settings.kid = _hex(fields, "kid", 0, True)
    settings.seed = _hex(fields, "seed", 32, True)
    if not 0 < len(settings.kid) <= 32:
        raise ValueError("config: kid must be 1..32 bytes")
    settings.gateway_key = _hex(fields, "gateway_key", 32, False)
    settings.openpaygo_key = _hex(fields, "openpaygo_key", 16, False)
    settings.gateway = str(fields["gateway"])
    settings.wifi_ssid = fields.get("wifi_ssid")
    settings.wifi_password = fields.get("wifi_password")
    for name in _INTEGERS:
        default, lowest = _INTEGERS[name]
        value = fields.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < lowest:
            raise ValueError("config: %s must be an integer >= %d" % (name, lowest))
        setattr(settings, name, value)
    if settings.pack_readings > 128 or settings.max_retransmit > 8:
        raise ValueError("config: pack_readings must be <= 128 and max_retransmit <= 8")
    if settings.outbox_readings_max < 4 * settings.pack_readings:
        raise ValueError("config: outbox_readings_max must be at least 4 packs")
    return settings


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
    return parse(fields)


def recover(path="config.json", backup="config.bak"):
    try:
        settings = load(path)
    except ValueError as err:
        print(err)
        try:
            settings = load(backup)
        except ValueError as backup_err:
            print(backup_err)
            return None
        print("config: restored %s from %s" % (path, backup))
        flash.write_atomic(path, flash.read(backup))
        return settings
    data = flash.read(path)
    if flash.read(backup) != data:
        flash.write_atomic(backup, data)
    return settings
