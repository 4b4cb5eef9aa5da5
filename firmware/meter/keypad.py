"""Token entry from keys: the board's keypad and, for bench work and the hardware tests, the serial console.

TokenEntry().key(key, now_s) -> the token (a str of digits) when '#' (or Enter on the console) ends one, else
    None. Digits collect (at most 9, an OpenPAYGO standard token); '*' clears; an entry left for
    ENTRY_TIMEOUT_S is dropped. `digits` is what is typed so far (for the screen).
ConsoleKeys().poll() -> one key from stdin without blocking, or None; Enter counts as '#'; other characters
    are ignored; at end of input (stdin closed) it stops polling.
"""

import select
import sys

from micropython import const

ENTRY_TIMEOUT_S = const(60)
_DIGITS_MAX = const(9)


class TokenEntry:
    def __init__(self):
        self.digits = ""
        self._last_s = 0

    def key(self, key, now_s):
        if self.digits and now_s - self._last_s > ENTRY_TIMEOUT_S:
            self.digits = ""
        self._last_s = now_s
        if key == "*":
            self.digits = ""
        elif key == "#":
            token = self.digits
            self.digits = ""
            return token or None
        elif "0" <= key <= "9" and len(self.digits) < _DIGITS_MAX:
            self.digits += key
        return None


class ConsoleKeys:
    def __init__(self):
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._open = True

    def poll(self):
        while self._open and self._poll.poll(0):
            key = sys.stdin.read(1)
            if not key:
                self._poll.unregister(sys.stdin)
                self._open = False
                return None
            if key in "\r\n":
                return "#"
            if key in "0123456789*#":
                return key
        return None
