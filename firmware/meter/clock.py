"""The meter's clock on real hardware: Unix seconds kept by the RTC, set from the gateway's signed time.

Clock().now_s() -> Unix seconds (the ESP32 port counts from 2000: converted here), set(now_s) -> True after
setting the RTC, ticks_ms() (monotonic, wrapping; use time.ticks_diff), sleep_ms(ms, wake): sleeps ms, in
slices of at most 50 ms, returning early once wake() is true (a key was pressed). The virtual board's clock
(meter/simboard.py) has the same methods and can run faster than real time.
"""

import time

_UNIX_EPOCH_OFFSET_S = 946684800 if time.gmtime(0)[0] == 2000 else 0


class Clock:
    speed = 1

    def now_s(self):
        return int(time.time()) + _UNIX_EPOCH_OFFSET_S

    def set(self, now_s):
        import machine

        fields = time.gmtime(now_s - _UNIX_EPOCH_OFFSET_S)
        machine.RTC().datetime((fields[0], fields[1], fields[2], fields[6], fields[3], fields[4], fields[5], 0))
        return True

    def ticks_ms(self):
        return time.ticks_ms()

    def sleep_ms(self, ms, wake=None):
        end = time.ticks_add(time.ticks_ms(), ms)
        while True:
            remaining = time.ticks_diff(end, time.ticks_ms())
            if remaining <= 0 or (wake is not None and wake()):
                return
            time.sleep_ms(min(remaining, 50))
