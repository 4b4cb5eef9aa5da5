"""The virtual board's current transformer (meter/simboard.py; loaded only when board.json has a "ct" entry).

ADC(board, milliamps_per_count, volts).read_u16(): the CT's burden voltage, 20 samples a mains cycle of a sine
around mid-scale whose RMS is the load's current (board.power_w() at `volts`), as meter/ct.py reads a real one.
"""

from math import sin


class ADC:
    def __init__(self, board, milliamps_per_count, volts):
        self._board = board
        self._counts_per_watt = 1000 / milliamps_per_count / volts
        self._phase = 0

    def read_u16(self):
        self._phase = (self._phase + 1) % 20
        peak = self._board.power_w() * self._counts_per_watt * 1.41421356
        return int(32768 + peak * sin(self._phase * 0.31415927))
