"""Crash-safe small files on the meter's flash.

write_atomic(path, data): writes `path + ".tmp"`, then renames it over `path`; a power cut at any point
leaves either the old or the new content, never a mix (rename is atomic on LittleFS and on POSIX).
read(path, default): the file's bytes, or `default` when it does not exist.
"""

import os


def write_atomic(path, data):
    temporary = path + ".tmp"
    with open(temporary, "wb") as handle:
        handle.write(data)
    os.rename(temporary, path)


def read(path, default=None):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return default


class Sequence:
    """The reading sequence number, monotonic across reboots.

    next() persists the number before returning it, so a reboot can skip numbers but never reuse one
    (the gateway refuses a used number as a replay).
    """

    def __init__(self, path="seq"):
        self.path = path
        raw = read(path, b"0")
        try:
            self.last = int(raw)
        except ValueError:
            # A corrupt counter must not brick the meter: restart from a time-based floor, above any
            # number used before (one reading a second at most, so seconds since 2024 exceed every seq).
            import time

            self.last = int(time.time()) - 1704067200
            print("seq file corrupt; continuing from", self.last)

    def next(self):
        self.last += 1
        write_atomic(self.path, str(self.last).encode())
        return self.last
