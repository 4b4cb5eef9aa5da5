"""Offline top-ups: an OpenPAYGO token typed on the keypad, checked and applied exactly once.

enter(token, state, account, openpaygo_key, token_unit_wh, now_s) -> (note, line)
    note: a short text for the screen's alert line; line: what the console prints. Changes `state` (credit,
    token counters, failures, lock-out); the caller saves it and switches the relay.
Rules (docs/meter.md):
- ADD_TIME adds value * token_unit_wh; SET_TIME sets the credit to value * token_unit_wh; DISABLE_PAYG turns
  prepaid off for good; COUNTER_SYNC only moves the counter. A token is used once (meter/openpaygo.py's counter rules).
- A wrong or already used token gives a clear message and no credit. FAILS_BEFORE_LOCK wrong tokens in a row
  lock token entry for LOCK_S seconds, doubling with every further wrong token (at most 64 times); a good
  token resets the count. The lock-out is in the persisted state: a reboot does not lift it.
- After the state was lost (state.token_resync) only a COUNTER_SYNC token is accepted, so that tokens used
  before cannot be replayed against a counter that restarted at zero.
Imported only when a token is entered (it and meter.openpaygo are unloaded again: see device).
"""

from micropython import const

from meter import openpaygo

FAILS_BEFORE_LOCK = const(5)
LOCK_S = const(60)


def enter(token, state, account, openpaygo_key, token_unit_wh, now_s):
    if openpaygo_key is None:
        return "NO TOKENS", "token refused: this meter has no token key"
    if state.token_locked_s > now_s:
        wait_s = state.token_locked_s - now_s
        return "LOCKED %d s" % wait_s, "token refused: entry locked for %d s" % wait_s
    value, kind, count, used = openpaygo.decode(token, openpaygo_key, state.token_count, state.token_used)
    if state.token_resync and value is not None and kind != openpaygo.COUNTER_SYNC:
        value = None
        kind = -1
    if value is None:
        state.token_fails += 1
        fails = state.token_fails
        if fails >= FAILS_BEFORE_LOCK:
            state.token_locked_s = now_s + (LOCK_S << min(fails - FAILS_BEFORE_LOCK, 6))
        why = "already used" if kind == openpaygo.ALREADY_USED else "sync needed" if kind == -1 else "invalid"
        note = "TOKEN USED" if kind == openpaygo.ALREADY_USED else "SYNC TOKEN" if kind == -1 else "WRONG TOKEN"
        line = "token rejected: %s (%d wrong in a row)" % (why, fails)
        if state.token_locked_s > now_s:
            line += "; entry locked for %d s" % (state.token_locked_s - now_s)
        return note, line
    state.token_fails = 0
    state.token_count = max(state.token_count, count)
    state.token_used = used
    if kind == openpaygo.ADD_TIME:
        if value:
            account.top_up(value * token_unit_wh)
        note = "TOKEN +%d.%01d kWh" % (value * token_unit_wh // 1000, value * token_unit_wh % 1000 // 100)
    elif kind == openpaygo.SET_TIME:
        account.set(value * token_unit_wh)
        note = "CREDIT SET"
    elif kind == openpaygo.DISABLE_PAYG:
        state.payg_off = True
        note = "PAYG OFF"
    else:
        state.token_resync = False
        note = "TOKEN SYNCED"
    return note, "token accepted: type %d value %d (count %d), credit %d Wh" % (kind, value, count, state.credit_wh)
