"""The virtual board's energy counter (the unix port has no pins): a constant load integrated over time.

EnergyCounter(power_w).read(now_s) -> (energy_wh, power_w): cumulative imported energy in whole Wh, as a
utility meter's pulse LED (1 imp/Wh) would count it, never decreasing.
"""


class EnergyCounter:
    def __init__(self, power_w, start_s, energy_wh=0):
        self.power_w = power_w
        self.start_s = start_s
        self.energy_start_wh = energy_wh

    def read(self, now_s):
        # Whole pulses only: round down, as a counter of 1 Wh pulses does.
        elapsed_s = max(0, now_s - self.start_s)
        return self.energy_start_wh + self.power_w * elapsed_s // 3600, self.power_w
