"""An optional current transformer: instantaneous power from an ADC (both boards; loaded only when board.json
has a "ct" entry).

CurrentSensor(adc, milliamps_per_count, volts, samples).power_w() -> W: RMS of `samples` readings of
adc.read_u16() with their mean (the bias) removed, times the nominal voltage. Floats: a display value and the
readings' instantaneous power, never a balance (energy comes from the pulse counter).
"""

from math import sqrt


class CurrentSensor:
    def __init__(self, adc, milliamps_per_count, volts, samples=200):
        self._adc = adc
        self._scale = milliamps_per_count * volts / 1000
        self._samples = samples

    def power_w(self):
        total = 0.0
        squares = 0.0
        for _ in range(self._samples):
            value = float(self._adc.read_u16())
            total += value
            squares += value * value
        mean = total / self._samples
        variance = squares / self._samples - mean * mean
        return int(sqrt(variance) * self._scale) if variance > 0 else 0
