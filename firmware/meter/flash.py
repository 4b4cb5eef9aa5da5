"""Crash-safe small files on the meter's flash.

write_atomic(path, data): writes `path + ".tmp"`, then renames it over `path`; a power cut at any point
leaves either the old or the new content, never a mix (rename is atomic on LittleFS and on POSIX).
read(path, default): the file's bytes, or `default` when it does not exist.
remove(path): deletes the file if it exists.
crc_of(handle, size): the CRC-32 of the next `size` bytes of an open file, read 128 bytes at a time (never a buffer
    of their size, which a running meter's heap seldom has in one piece); None when the file ends before them.
Slots(name): a small record kept in two files, `name.a` and `name.b`, written in turn, each with a generation
    number and a CRC-32. A power cut while one is written leaves the other intact, so load() always finds the
    last or the one before; a copy that fails its check is reported and ignored. One write per save, no rename.
"""

import os
import struct
from binascii import crc32

_SLOT_HEADER = "<III"  # generation, body length, CRC-32 of the body


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


def remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def crc_of(handle, size):
    crc = 0
    while size > 0:
        data = handle.read(min(size, 128))
        if not data:
            return None
        crc = crc32(data, crc)
        size -= len(data)
    return crc


class Slots:
    def __init__(self, name):
        self.paths = (name + ".a", name + ".b")
        self.generation = 0
        self._next = 0  # the copy the next save overwrites: the older one
        self.corrupt = 0  # copies that failed their check at load

    def load(self):
        """The body of the newest valid copy, or None when there is none."""
        best = None
        for index in (0, 1):
            data = read(self.paths[index])
            if data is None:
                continue
            if len(data) >= 12:
                generation, length, check = struct.unpack_from(_SLOT_HEADER, data)
                body = data[12:]
                if len(body) == length and crc32(body) == check:
                    if best is None or generation > best[0]:
                        best = (generation, index, body)
                    continue
            self.corrupt += 1
            print("flash: %s is corrupt; ignored" % self.paths[index])
        if best is None:
            return None
        self.generation = best[0]
        self._next = 1 - best[1]
        return best[2]

    def save(self, data):
        """Writes `data` over the older copy; raises OSError (e.g. ENOSPC) with the newer copy untouched."""
        generation = self.generation + 1
        with open(self.paths[self._next], "wb") as handle:
            handle.write(struct.pack(_SLOT_HEADER, generation, len(data), crc32(data)))
            handle.write(data)
        self.generation = generation
        self._next ^= 1
