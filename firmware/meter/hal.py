"""Hardware abstraction: the meter's devices, written against machine-like pins so that the ESP32 board
(meter/esp32board.py) and the virtual board (meter/simboard.py) share them.

A board (meter/boot.py loads the one board.json names) offers:
    name, imp_per_kwh     its name, and the utility meter's pulse constant (impulses per kWh)
    clock                 now_s() Unix seconds, set(unix_s) -> bool, ticks_ms(), sleep_ms(ms, wake)
    pulses                a PulseCounter: `count` pulses since boot
    relay                 a Relay: set(closed)
    screen                a driver with `fb` (framebuf.FrameBuffer, 128x64 MONO_VLSB) and show()
    keys                  poll() -> one key ("0".."9", "*", "#") or None
    ct                    a ct.CurrentSensor or None
    connect(settings)     brings the network up (WiFi on the ESP32); feed() the watchdog; restart()
    finish()              called when the firmware stops (the virtual board reports its simulation)

PulseCounter(pin, ticks_ms, debounce_ms, trigger): counts edges on `pin` from its IRQ; an edge closer than
    debounce_ms to the last counted one is contact bounce or noise, counted in `rejected` instead.
Relay(pin, active_high): the supply contactor's driver; `closed` is the last state set.
The optional current transformer is meter/ct.py.
"""

import time


class PulseCounter:
    def __init__(self, pin, ticks_ms, debounce_ms, trigger=None):
        self.count = 0
        self.rejected = 0
        self.ticks_ms = ticks_ms
        self.debounce_ms = debounce_ms
        self._last = None
        pin.irq(handler=self._edge, trigger=trigger)

    def _edge(self, pin):
        # Runs in the IRQ (scheduled): no allocation, no printing.
        now = self.ticks_ms()
        if self._last is not None and time.ticks_diff(now, self._last) < self.debounce_ms:
            self.rejected += 1
            return
        self._last = now
        self.count += 1


class Relay:
    def __init__(self, pin, active_high=True):
        self.pin = pin
        self.on = 1 if active_high else 0
        self.closed = None

    def set(self, closed):
        self.pin.value(self.on if closed else 1 - self.on)
        self.closed = closed


class NoKeys:
    def poll(self):
        return None
