"""The meter's main loop: read the energy counter, sign a SenML reading, send it over CoAP, repeat.

Flash holds config.json (identity, gateway), `seq` (the sequence counter) and the Ed25519 base-point table.
Readings the gateway has not acknowledged stay queued (bounded) and go in the next pack, oldest first.
Console lines are for humans and for the pytest-embedded hardware suite.
"""

import gc
import sys
import time

from meter import coap, config, cose, ed25519, flash, senml, simboard

_PENDING_MAX = 64  # readings kept while the gateway is unreachable (issue: flash outbox)
_UNIX_EPOCH_OFFSET_S = 946684800 if time.gmtime(0)[0] == 2000 else 0  # ESP32 counts from 2000


def now_s():
    return int(time.time()) + _UNIX_EPOCH_OFFSET_S


def send(client, settings, pending):
    """Sends every pending reading in one signed pack; True once the gateway acknowledged it."""
    message = cose.sign1(senml.encode(settings.kid, pending), settings.seed, settings.kid)
    try:
        code, payload = client.request(coap.POST, "/r", payload=message, content_format=coap.FORMAT_COSE_SIGN1)
    except (coap.Error, OSError) as err:
        print("gateway unreachable:", repr(err))
        return False
    if code == coap.CHANGED:
        print("acked seq", pending[-1][1], "readings", len(pending))
        return True
    if 0x80 <= code < 0xA0:
        # The gateway will never accept these bytes (4.xx): keeping them would block every later reading.
        print("rejected", coap.code_text(code), payload.decode(), "- dropped", len(pending))
        return True
    print("gateway busy", coap.code_text(code))
    return False


def run(settings):
    print("enerlectra meter", settings.meter_id, "booted; gateway", settings.gateway, settings.port)
    started = time.ticks_ms()
    ed25519.use_table("ed25519.tbl")
    print("signing table ready in", time.ticks_diff(time.ticks_ms(), started), "ms")
    sequence = flash.Sequence("seq")
    counter = simboard.EnergyCounter(settings.sim_power_w, now_s())
    client = coap.Client(settings.gateway, settings.port)
    pending = []
    sent = 0
    while not settings.readings_max or sent < settings.readings_max:
        # Collect while little is live: signing leaves many short-lived big ints, and a collection forced
        # mid-encode finds the heap too fragmented for the next buffer.
        gc.collect()
        energy_wh, power_w = counter.read(now_s())
        pending.append((now_s(), sequence.next(), energy_wh, 0, power_w, settings.credit_wh))
        if len(pending) > _PENDING_MAX:
            pending.pop(0)  # oldest first: the cumulative counter in later readings keeps totals right
        if send(client, settings, pending):
            pending = []
        sent += 1
        if not settings.readings_max or sent < settings.readings_max:
            time.sleep(settings.interval_s)
    client.close()
    print("meter stopped after", sent, "readings")


def main():
    try:
        settings = config.load("config.json")
    except ValueError as err:
        print("cannot start:", err)
        sys.exit(1)
    run(settings)

