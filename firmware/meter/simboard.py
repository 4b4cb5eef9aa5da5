"""The virtual board: the MicroPython unix port standing in for the ESP32, its hardware simulated.

Board(spec, settings) offers what meter/hal.py describes, from board.json (hardware/boards/virtual.json):
- clock: virtual time. `sim.start_s` (Unix s, default the host's time) at boot, `sim.speed` times real time
  (default 1), or 0: time moves only when the firmware sleeps, as fast as the host runs (simulations, tests).
  At a speed other than 1 the gateway's time is taken once, and only to move the clock forward.
- the household's load behind the relay drives the pulse LED: `sim.load.profile_w` (W, one value per
  `step_s` seconds of the day, repeating; default [settings.sim_power_w]) is integrated exactly, in mJ per
  ms, and each 3.6e9 / imp_per_kwh mJ makes one pulse, delivered to the same PulseCounter IRQ handler the ESP32
  uses, at its virtual time. No load flows while the relay is open. `bounce_every: n` adds a contact bounce
  (a second edge 2 ms later) to every n-th pulse, which the debounce must reject.
- ct: an ADC sampling a sine whose RMS is the load's current at `ct.volts` (when board.json has "ct").
- screen: a 128x64 frame buffer; `sim.display_dump` names a PBM image file rewritten at every refresh;
  `sim.screen_log: 1` prints each new screen's text lines to the console (`screen: line | line | ...`).
- keys: `sim.keys`, a script of [seconds after boot, "keys"] pairs, typed at those virtual times.
- `sim.flash`: {"image": file, "blocks": n, "block_size": 512} mounts a LittleFS image (the ESP32's file
  system, with a real size limit) as the meter's data folder; the table, config and board files stay outside.
finish() prints what the simulation measured: the load's energy, pulses made and bounces rejected.

RAM: the board is one object that plays each part itself (clock, pulse LED pin, relay pin, load, screen, keys):
every class and every attribute name costs the meter RAM for as long as it runs, and this board stands in for
hardware, not for firmware. The CT's simulated ADC is meter/simct.py, loaded only for a board with a CT.
"""

import os
import sys
import time

import framebuf
from micropython import const

from meter import hal

_MJ_PER_KWH = const(3600000000)


def _absolute(path):
    if not path or path.startswith("/"):
        return path
    return os.getcwd().rstrip("/") + "/" + path


class Board:
    def __init__(self, spec, settings=None):
        sim = spec.get("sim", {})
        self.name = spec.get("name", "virtual")
        # The clock: virtual ms since boot.
        self.clock = self
        self.speed = sim.get("speed", 1)
        self.start_s = sim.get("start_s") or int(time.time())
        self.ms = 0
        self._real_start = time.ticks_ms()
        self._set = False
        # The household's load: integrated in mJ, a pulse for every _mj_per_pulse.
        pulse = spec.get("pulse", {})
        self.imp_per_kwh = pulse.get("imp_per_kwh", 1000)
        load = sim.get("load", {})
        self.profile_w = load.get("profile_w") or [settings.sim_power_w if settings else 0]
        self.step_s = load.get("step_s", 3600)
        self._mj_per_pulse = _MJ_PER_KWH // self.imp_per_kwh
        self.bounce_every = load.get("bounce_every", 0)
        self._mj = 0  # since the last pulse
        self.energy_mj = 0
        self.pulses_made = 0
        # The pulse LED's pin (this board: irq) and the relay's (this board: value).
        self._edge = None
        self.pulses = hal.PulseCounter(self, self.pulse_ticks, pulse.get("debounce_ms", 20))
        self.relay = hal.Relay(self, spec.get("relay", {}).get("active_high", True))
        self.ct = None
        ct = spec.get("ct")
        if ct:
            from meter import ct as current
            from meter import simct

            scale, volts = ct.get("milliamps_per_count", 10), ct.get("volts", 230)
            self.ct = current.CurrentSensor(simct.ADC(self, scale, volts), scale, volts, 200)
        # The screen.
        self.screen = self
        self.fb = framebuf.FrameBuffer(bytearray(1024), 128, 64, framebuf.MONO_VLSB)
        self._dump_path = _absolute(sim.get("display_dump"))
        self.screen_log = sim.get("screen_log", 0)
        self.frames = 0
        # The keys: [seconds after boot, "keys"] typed at those virtual times.
        self.keys = self
        self._script = sorted(sim.get("keys", []))
        self._pending = ""
        if sim.get("flash"):
            from meter import simflash

            simflash.mount(sim["flash"], _absolute(sim["flash"]["image"]))

    # --- the clock ---------------------------------------------------------------------------------------

    def _advance(self, target):
        # Runs the load up to virtual ms `target`: its pulses reach the counter at their own times.
        t = self.ms
        step = self.step_s * 1000
        profile = self.profile_w
        while t < target:
            absolute = self.start_s * 1000 + t
            end = min(target, t + step - absolute % step)
            power = profile[absolute // step % len(profile)] if self.relay.closed else 0
            if power > 0:
                while True:
                    dt = (self._mj_per_pulse - self._mj + power - 1) // power  # ms to the next pulse
                    if t + dt > end:
                        break
                    t += dt
                    self._mj += power * dt - self._mj_per_pulse
                    self.energy_mj += power * dt
                    self.pulse(t)
                self._mj += power * (end - t)
                self.energy_mj += power * (end - t)
            t = end
        self.ms = target

    def pulse(self, t):
        self.ms = t
        self.pulses_made += 1
        self._edge(self)
        if self.bounce_every and self.pulses_made % self.bounce_every == 0:
            self.ms = t + 2
            self._edge(self)
            self.ms = t

    def _catch_up(self):
        if self.speed:
            target = time.ticks_diff(time.ticks_ms(), self._real_start) * self.speed
            if target > self.ms:
                self._advance(target)

    def pulse_ticks(self):
        return self.ms  # the unix port's ticks period is 2^62: no wrap in any simulation

    def now_s(self):
        self._catch_up()
        return self.start_s + self.ms // 1000

    def set(self, now_s):
        if self.speed != 1 and (self._set or now_s < self.now_s()):
            return False
        self._catch_up()
        self.start_s = now_s - self.ms // 1000
        self._set = True
        return True

    def ticks_ms(self):
        self._catch_up()
        return self.ms

    def sleep_ms(self, ms, wake=None):
        if not self.speed:
            self._advance(self.ms + ms)
            return
        end = self.ms + ms
        while self.ms < end and not (wake is not None and wake()):
            time.sleep_ms(max(1, min(50, (end - self.ms) // self.speed)))
            self._catch_up()

    def power_w(self):
        """The load's power now (W): what the simulated CT measures."""
        if not self.relay.closed:
            return 0
        return self.profile_w[(self.start_s * 1000 + self.ms) // (self.step_s * 1000) % len(self.profile_w)]

    # --- the pins ----------------------------------------------------------------------------------------

    def irq(self, handler=None, trigger=None):
        self._edge = handler

    def value(self, level=None):
        pass  # the relay's coil: the load follows relay.closed

    # --- the screen and the keys -------------------------------------------------------------------------

    def show(self, lines=None):
        self.frames += 1
        if self.screen_log and lines:
            print("screen: " + " | ".join(lines))
        if self._dump_path:
            self.dump(self._dump_path)

    def dump(self, path):
        """Writes the screen as a PBM image: lit pixels white on black, as the OLED shows them."""
        rows = bytearray(1024)
        framebuf.FrameBuffer(rows, 128, 64, framebuf.MONO_HLSB).blit(self.fb, 0, 0)
        for index in range(1024):
            rows[index] ^= 0xFF  # PBM: 1 is black
        with open(path, "wb") as handle:
            handle.write(b"P4\n128 64\n")
            handle.write(rows)

    def poll(self):
        if not self._pending and self._script and self.ms // 1000 >= self._script[0][0]:
            self._pending = self._script.pop(0)[1]
        if not self._pending:
            return None
        key = self._pending[0]
        self._pending = self._pending[1:]
        return key

    # --- the board ---------------------------------------------------------------------------------------

    def connect(self, settings):
        return True  # the host's network

    def feed(self):
        pass

    def restart(self):
        sys.exit(3)  # the process ends; whoever runs the virtual board decides whether to boot it again

    def finish(self):
        counts = (self.energy_mj, self.pulses_made, self.pulses.rejected)
        print("sim: load %d mJ %d pulses %d bounces rejected" % counts)
