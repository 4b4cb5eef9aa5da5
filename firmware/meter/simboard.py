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
"""

import os
import sys
import time
from math import sin

import framebuf
from micropython import const

from meter import hal

_MJ_PER_KWH = const(3600000000)


def _absolute(path):
    if not path or path.startswith("/"):
        return path
    return os.getcwd().rstrip("/") + "/" + path


class Pin:
    def __init__(self):
        self.handler = None
        self.level = 0

    def irq(self, handler=None, trigger=None):
        self.handler = handler

    def value(self, level=None):
        if level is None:
            return self.level
        self.level = level


class Clock:
    def __init__(self, start_s, speed):
        self.speed = speed
        self._start_s = start_s
        self._ms = 0  # virtual ms since boot
        self._real_start = time.ticks_ms()
        self._set = False
        self.load = None

    def _catch_up(self):
        if self.speed:
            target = time.ticks_diff(time.ticks_ms(), self._real_start) * self.speed
            if target > self._ms:
                self._advance(target)

    def _advance(self, target):
        if self.load is not None:
            self.load.run(self, target)
        self._ms = target

    def pulse_ticks(self):
        return self._ms  # the unix port's ticks period is 2^62: no wrap in any simulation

    def uptime_s(self):
        return self._ms // 1000

    def now_s(self):
        self._catch_up()
        return self._start_s + self._ms // 1000

    def set(self, unix_s):
        # At real-time speed the gateway's clock rules. A simulated clock running at another speed takes only a
        # first setting that moves it forward: the gateway's real clock would pull simulated time back.
        if self.speed != 1 and (self._set or unix_s < self.now_s()):
            return False
        self._catch_up()
        self._start_s = unix_s - self._ms // 1000
        self._set = True
        return True

    def ticks_ms(self):
        self._catch_up()
        return self._ms

    def sleep_ms(self, ms, wake=None):
        if not self.speed:
            self._advance(self._ms + ms)
            return
        end = self._ms + ms
        while self._ms < end and not (wake is not None and wake()):
            time.sleep_ms(max(1, min(50, (end - self._ms) // self.speed)))
            self._catch_up()


class Load:
    def __init__(self, profile_w, step_s, imp_per_kwh, pin, relay, bounce_every):
        self._profile = profile_w
        self._step_ms = step_s * 1000
        self._mj_per_pulse = _MJ_PER_KWH // imp_per_kwh
        self._pin = pin
        self._relay = relay
        self._bounce_every = bounce_every
        self._mj = 0  # since the last pulse
        self.energy_mj = 0
        self.pulses = 0

    def power_w(self, clock):
        if not self._relay.closed:
            return 0
        return self._profile[(clock._start_s * 1000 + clock._ms) // self._step_ms % len(self._profile)]

    def run(self, clock, target):
        t = clock._ms
        step = self._step_ms
        while t < target:
            absolute = clock._start_s * 1000 + t
            end = min(target, t + step - absolute % step)
            power = self._profile[absolute // step % len(self._profile)] if self._relay.closed else 0
            if power > 0:
                while True:
                    dt = (self._mj_per_pulse - self._mj + power - 1) // power  # ms to the next pulse
                    if t + dt > end:
                        break
                    t += dt
                    self._mj += power * dt - self._mj_per_pulse
                    self.energy_mj += power * dt
                    self._pulse(clock, t)
                self._mj += power * (end - t)
                self.energy_mj += power * (end - t)
            t = end

    def _pulse(self, clock, t):
        clock._ms = t
        self.pulses += 1
        self._pin.handler(self._pin)
        if self._bounce_every and self.pulses % self._bounce_every == 0:
            clock._ms = t + 2
            self._pin.handler(self._pin)
            clock._ms = t


class ADC:
    """A current transformer's burden voltage: 20 samples a mains cycle around mid-scale."""

    def __init__(self, load, clock, milliamps_per_count, volts):
        self._load = load
        self._clock = clock
        self._counts_per_watt = 1000 / milliamps_per_count / volts
        self._phase = 0

    def read_u16(self):
        self._phase = (self._phase + 1) % 20
        peak = self._load.power_w(self._clock) * self._counts_per_watt * 1.41421356
        return int(32768 + peak * sin(self._phase * 0.31415927))


class Screen:
    def __init__(self, dump_path, log=False):
        self.fb = framebuf.FrameBuffer(bytearray(1024), 128, 64, framebuf.MONO_VLSB)
        self._dump_path = dump_path
        self._log = log
        self.frames = 0

    def show(self, lines=None):
        self.frames += 1
        if self._log and lines:
            print("screen:", " | ".join(lines))
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


class ScriptedKeys:
    def __init__(self, clock, script):
        self._clock = clock
        self._script = sorted(script)
        self._pending = ""

    def poll(self):
        if not self._pending and self._script and self._clock.uptime_s() >= self._script[0][0]:
            self._pending = self._script.pop(0)[1]
        if not self._pending:
            return None
        key = self._pending[0]
        self._pending = self._pending[1:]
        return key


class Board:
    def __init__(self, spec, settings=None):
        sim = spec.get("sim", {})
        self.name = spec.get("name", "virtual")
        self.clock = Clock(sim.get("start_s") or int(time.time()), sim.get("speed", 1))
        pulse = spec.get("pulse", {})
        self.imp_per_kwh = pulse.get("imp_per_kwh", 1000)
        pin = Pin()
        self.pulses = hal.PulseCounter(pin, self.clock.pulse_ticks, pulse.get("debounce_ms", 20))
        self.relay = hal.Relay(Pin(), spec.get("relay", {}).get("active_high", True))
        load = sim.get("load", {})
        profile = load.get("profile_w") or [settings.sim_power_w if settings else 0]
        self.load = Load(profile, load.get("step_s", 3600), self.imp_per_kwh, pin, self.relay,
                         load.get("bounce_every", 0))
        self.clock.load = self.load
        self.ct = None
        ct = spec.get("ct")
        if ct:
            from meter import ct as current

            scale, volts = ct.get("milliamps_per_count", 10), ct.get("volts", 230)
            self.ct = current.CurrentSensor(ADC(self.load, self.clock, scale, volts), scale, volts, 200)
        self.screen = Screen(_absolute(sim.get("display_dump")), sim.get("screen_log", 0))
        self.keys = ScriptedKeys(self.clock, sim.get("keys", []))
        if sim.get("flash"):
            from meter import simflash

            simflash.mount(sim["flash"], _absolute(sim["flash"]["image"]))

    def connect(self, settings):
        return True  # the host's network

    def feed(self):
        pass

    def restart(self):
        sys.exit(3)  # the process ends; whoever runs the virtual board decides whether to boot it again

    def finish(self):
        print("sim: load %d mJ %d pulses %d bounces rejected" % (self.load.energy_mj, self.load.pulses,
                                                                 self.pulses.rejected))
