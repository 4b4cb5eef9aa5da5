"""The meter's persisted state: counters, prepaid credit and top-up bookkeeping, in one crash-safe record.

    state = State("state")
    found = state.load()        # False on first boot, or when both copies are gone (see `lost`)
    state.credit_wh -= 5
    state.save()                # raises OSError (full flash): the previous copy stays valid

Fields (all ints unless noted; energy in Wh, time in Unix seconds):
    seq            the last reading sequence number used (the outbox may hold a higher one: see device)
    pulses         cumulative pulses counted from the utility meter's LED
    charged_wh     the energy, in Wh derived from pulses, already taken off the credit
    credit_wh      prepaid credit left; negative while emergency credit is in use
    grant_id       the id of the last gateway credit grant applied (docs/downlink.md)
    token_count    OpenPAYGO: the highest token count applied; token_used: the recent counts used (list)
    token_fails    wrong tokens typed in a row; token_locked_s: token entry refused until this time
    relay_open     True while the supply is cut (bool); payg_off: a DISABLE_PAYG token was applied (bool)
    time_s         the latest time the meter has known: the clock never goes back behind it after a reboot
    grant_resync   True after the state was lost: the next grant poll only learns the gateway's last grant id
                   instead of applying grants that may have been applied before (bool)
    token_resync   True after the state was lost: only a COUNTER_SYNC token is accepted, until one is (bool)
Stored as JSON in flash.Slots: each save is one write, and a power cut during it leaves the previous save.
"""

import json

from meter import flash

_INTS = ("seq", "pulses", "charged_wh", "credit_wh", "grant_id", "token_count", "token_fails", "token_locked_s",
         "time_s")
_BOOLS = ("relay_open", "payg_off", "grant_resync", "token_resync")


class State:
    def __init__(self, name="state"):
        self._slots = flash.Slots(name)
        for field in _INTS:
            setattr(self, field, 0)
        for field in _BOOLS:
            setattr(self, field, False)
        self.token_used = []
        self.lost = False  # a copy existed but none could be read

    def load(self):
        """True when a saved state was found; False on a fresh flash or when every copy is corrupt."""
        body = self._slots.load()
        if body is None:
            self.lost = self._slots.corrupt > 0
            return False
        try:
            fields = json.loads(body)
            for field in _INTS:
                value = fields[field]
                if not isinstance(value, int):
                    raise ValueError(field)
                setattr(self, field, value)
            for field in _BOOLS:
                setattr(self, field, bool(fields[field]))
            used = fields["token_used"]
            if not isinstance(used, list):
                raise ValueError("token_used")
            self.token_used = [int(count) for count in used]
        except (ValueError, KeyError, TypeError) as err:
            # A checked copy with wrong fields is a firmware bug, not a power cut: report it, start afresh.
            print("state: unreadable fields:", repr(err))
            self.lost = True
            return False
        return True

    def save(self):
        fields = {field: getattr(self, field) for field in _INTS + _BOOLS}
        fields["token_used"] = self.token_used
        self._slots.save(json.dumps(fields).encode())
