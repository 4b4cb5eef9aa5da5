"""Prepaid credit in Wh: charged by measured energy, topped up by grants and tokens, enforced by the relay.

    account = Credit(state, low_credit_wh=1000, emergency_wh=200)
    account.charge(energy_wh)      # cumulative energy now; takes what is new off the credit
    account.top_up(wh)             # a grant or an ADD token; account.set(wh) for a SET token
    if account.update_relay(): ... # True when the relay must change (state.relay_open says which way)
    account.level()                # NORMAL, LOW, EMERGENCY, DEPLETED or UNLIMITED, for the display

Rules (docs/meter.md):
- The supply stays on while credit > 0, and on into emergency credit down to -emergency_wh; at or below that it
  is cut. Once cut it comes back only when credit is above 0 again: the emergency credit used is repaid first,
  and a top-up that does not cover it leaves the supply off (no flicker around the threshold).
- LOW while 0 < credit <= low_credit_wh: the display warns before the credit runs out.
- A DISABLE_PAYG token (payg_off) keeps the supply on and stops charging: the household owns the system.
All in integer Wh; the state is persisted by the caller (device), together with the energy counter, so that
charging is exact: the energy charged is always the counter's Wh, never an estimate.
"""

from micropython import const

NORMAL = const(0)
LOW = const(1)
EMERGENCY = const(2)
DEPLETED = const(3)
UNLIMITED = const(4)


class Credit:
    def __init__(self, state, low_credit_wh, emergency_wh):
        if low_credit_wh < 0 or emergency_wh < 0:
            raise ValueError("credit thresholds must be >= 0")
        self.state = state
        self.low_credit_wh = low_credit_wh
        self.emergency_wh = emergency_wh

    def charge(self, energy_wh):
        """Takes the energy measured since the last charge off the credit; returns the Wh charged."""
        state = self.state
        used = energy_wh - state.charged_wh
        state.charged_wh = energy_wh
        if used <= 0 or state.payg_off:
            return 0  # below 0 only when the counter was restored from an older reading: nothing to charge
        state.credit_wh -= used
        return used

    def top_up(self, wh):
        if wh <= 0:
            raise ValueError("a top-up is positive")
        self.state.credit_wh += wh

    def set(self, wh):
        if wh < 0:
            raise ValueError("credit is set to >= 0")
        self.state.credit_wh = wh

    def update_relay(self):
        """Applies the rules above to state.relay_open; True when it changed."""
        state = self.state
        if state.payg_off:
            cut = False
        elif state.relay_open:
            cut = state.credit_wh <= 0
        else:
            cut = state.credit_wh <= -self.emergency_wh
        changed = cut != state.relay_open
        state.relay_open = cut
        return changed

    def level(self):
        state = self.state
        if state.payg_off:
            return UNLIMITED
        if state.relay_open:
            return DEPLETED
        if state.credit_wh <= 0:
            return EMERGENCY
        if state.credit_wh <= self.low_credit_wh:
            return LOW
        return NORMAL
