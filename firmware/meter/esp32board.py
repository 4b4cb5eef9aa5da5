"""The ESP32 board: real pins, from board.json (hardware/boards/esp32-devkitc.json; wiring in hardware/README.md).

Board(spec, settings) offers what meter/hal.py describes:
- pulses: the utility meter's pulse LED seen by a photodiode/phototransistor module on `pulse.pin`
  (falling edge, `pulse.debounce_ms`), counted in the pin IRQ.
- relay: the contactor driver on `relay.pin` (`active_high`).
- screen: an SSD1306 128x64 OLED on I2C (`display.scl`, `display.sda`, `display.address`), or none.
- keys: a 4x4 matrix keypad (`keypad.rows` driven low one at a time, `keypad.columns` read with pull-ups),
  scanned every 20 ms by a hardware timer into a small buffer, so no key press is lost during slow work.
- ct: a current transformer on an ADC pin (`ct.pin`, `ct.milliamps_per_count`, `ct.volts`), optional.
- connect(settings): WiFi station mode with settings.wifi_ssid / wifi_password (up to 20 s).
- a watchdog (`watchdog_s`, default 120 s: longer than the longest CoAP exchange) fed from the main loop.
Not exercised by the test suite (no board here); the hardware suite in tests/hardware runs against it.
"""

import time

import framebuf
import machine

from meter import clock, hal

_KEYS = "123A456B789C*0#D"


class SSD1306:
    """Minimal SSD1306 driver over I2C: init, then the whole frame buffer per show()."""

    def __init__(self, i2c, address=0x3C, width=128, height=64):
        self._i2c = i2c
        self._address = address
        self._buffer = bytearray(width * height // 8)
        self.fb = framebuf.FrameBuffer(self._buffer, width, height, framebuf.MONO_VLSB)
        for command in (0xAE, 0x20, 0x00, 0x40, 0xA1, 0xA8, height - 1, 0xC8, 0xD3, 0x00, 0xDA, 0x12, 0xD5, 0x80,
                        0xD9, 0xF1, 0xDB, 0x30, 0x81, 0xFF, 0xA4, 0xA6, 0x8D, 0x14, 0xAF):
            self._command(command)
        self._width = width
        self._pages = height // 8

    def _command(self, command):
        self._i2c.writeto(self._address, bytes((0x80, command)))

    def show(self, lines=None):
        for command in (0x21, 0, self._width - 1, 0x22, 0, self._pages - 1):
            self._command(command)
        self._i2c.writevto(self._address, (b"\x40", self._buffer))


class NoScreen:
    def __init__(self):
        self.fb = framebuf.FrameBuffer(bytearray(1024), 128, 64, framebuf.MONO_VLSB)

    def show(self, lines=None):
        pass


class MatrixKeypad:
    def __init__(self, rows, columns):
        self._rows = [machine.Pin(pin, machine.Pin.OUT, value=1) for pin in rows]
        self._columns = [machine.Pin(pin, machine.Pin.IN, machine.Pin.PULL_UP) for pin in columns]
        self._buffer = bytearray(16)
        self._head = 0
        self._tail = 0
        self._down = -1
        self._timer = machine.Timer(0)
        self._timer.init(period=20, mode=machine.Timer.PERIODIC, callback=self._scan)

    def _scan(self, _timer):
        pressed = -1
        for r, row in enumerate(self._rows):
            row.value(0)
            for c, column in enumerate(self._columns):
                if not column.value():
                    pressed = r * 4 + c
            row.value(1)
        if pressed != self._down and pressed >= 0 and (self._head + 1) % 16 != self._tail:
            self._buffer[self._head] = ord(_KEYS[pressed])
            self._head = (self._head + 1) % 16
        self._down = pressed

    def poll(self):
        if self._tail == self._head:
            return None
        key = chr(self._buffer[self._tail])
        self._tail = (self._tail + 1) % 16
        return key


class Board:
    def __init__(self, spec, settings=None):
        self.name = spec.get("name", "esp32")
        self.clock = clock.Clock()
        pulse = spec["pulse"]
        pull = machine.Pin.PULL_UP if pulse.get("pull_up") else None
        self.imp_per_kwh = pulse.get("imp_per_kwh", 1000)
        self.pulses = hal.PulseCounter(machine.Pin(pulse["pin"], machine.Pin.IN, pull), time.ticks_ms,
                                       pulse.get("debounce_ms", 20), machine.Pin.IRQ_FALLING)
        relay = spec["relay"]
        self.relay = hal.Relay(machine.Pin(relay["pin"], machine.Pin.OUT), relay.get("active_high", True))
        display = spec.get("display")
        if display:
            i2c = machine.I2C(0, scl=machine.Pin(display["scl"]), sda=machine.Pin(display["sda"]), freq=400000)
            self.screen = SSD1306(i2c, display.get("address", 0x3C))
        else:
            self.screen = NoScreen()
        keypad = spec.get("keypad")
        self.keys = MatrixKeypad(keypad["rows"], keypad["columns"]) if keypad else hal.NoKeys()
        ct = spec.get("ct")
        self.ct = None
        if ct:
            adc = machine.ADC(machine.Pin(ct["pin"]))
            adc.atten(machine.ADC.ATTN_11DB)
            from meter import ct as current

            self.ct = current.CurrentSensor(adc, ct.get("milliamps_per_count", 10), ct.get("volts", 230),
                                        ct.get("samples", 200))
        self._watchdog = machine.WDT(timeout=spec.get("watchdog_s", 120) * 1000)

    def connect(self, settings):
        import network

        station = network.WLAN(network.STA_IF)
        station.active(True)
        if not station.isconnected() and settings.wifi_ssid:
            station.connect(settings.wifi_ssid, settings.wifi_password)
            for _ in range(200):
                if station.isconnected():
                    break
                time.sleep_ms(100)
                self.feed()
        print("wifi", "connected" if station.isconnected() else "not connected", station.ifconfig()[0])
        return station.isconnected()

    def feed(self):
        self._watchdog.feed()

    def restart(self):
        time.sleep(5)
        machine.reset()

    def finish(self):
        pass
