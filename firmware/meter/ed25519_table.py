"""The base-point table file of meter.ed25519: built once, checked at every start.

Contract:
- ``open_table(path) -> (file, built)``: the table file at ``path`` opened for reading, after checking it
  (size, header, SHA-256 over header and entries, and the first and last points recomputed); a missing or
  corrupt file is rebuilt first, and ``built`` says so. Raises OSError if the rebuilt file is unreadable.
- Layout (see meter.edwards25519): a 16-byte header, 254 entries of 96 bytes, a 32-byte SHA-256.

Only imported by ed25519.use_table, so a meter without a table never compiles this module.
"""

import hashlib
import os

from meter import edwards25519 as ed

try:
    from micropython import const
except ImportError:  # CPython, so that tools and tests can import the module.

    def const(value):
        return value


_MAGIC = ed.TABLE_MAGIC
_SIZE = ed.TABLE_HEADER_SIZE + ed.TABLE_ENTRIES * ed.TABLE_ENTRY_SIZE + 32
_BUILD_ENTRIES = const(8)  # points per inversion (Montgomery's trick) and per write while building


def _entry(point):
    """(y-x, y+x, 2d*x*y) of an extended point, as 96 bytes."""
    P = ed.P
    X, Y, Z, _ = point
    zi = pow(Z, P - 2, P)
    x = X * zi % P
    y = Y * zi % P
    return (
        ((y - x) % P).to_bytes(32, "little")
        + ((y + x) % P).to_bytes(32, "little")
        + (x * y % P * ed.D2 % P).to_bytes(32, "little")
    )


def _build(path):
    """Write the table to path + '.tmp', then rename it over path: a crash never leaves half a table."""
    P = ed.P
    chunk_entries = _BUILD_ENTRIES
    temporary = path + ".tmp"
    digest = hashlib.sha256(_MAGIC)
    buffer = bytearray(_BUILD_ENTRIES * ed.TABLE_ENTRY_SIZE)
    view = memoryview(buffer)
    points = [None] * chunk_entries
    products = [0] * chunk_entries
    point = ed.BASE
    with open(temporary, "wb") as handle:
        handle.write(_MAGIC)
        for start in range(0, ed.TABLE_ENTRIES, chunk_entries):
            count = min(chunk_entries, ed.TABLE_ENTRIES - start)
            product = 1
            for j in range(count):
                points[j] = point
                product = product * point[2] % P
                products[j] = product
                point = ed.double(point)
            # One inversion per chunk (Montgomery's trick): walking back, inverse = 1/(z0*...*zj).
            inverse = pow(product, P - 2, P)
            for j in range(count - 1, -1, -1):
                X, Y, Z, _ = points[j]
                zi = inverse * products[j - 1] % P if j else inverse
                inverse = inverse * Z % P
                offset = j * ed.TABLE_ENTRY_SIZE
                buffer[offset : offset + ed.TABLE_ENTRY_SIZE] = _entry((X * zi % P, Y * zi % P, 1, 0))
            size = count * ed.TABLE_ENTRY_SIZE
            handle.write(view[:size])
            digest.update(view[:size])
        handle.write(digest.digest())
    try:
        os.rename(temporary, path)
    except OSError:  # some file systems will not rename over an existing file
        os.remove(path)
        os.rename(temporary, path)


def _entries_if_intact(handle):
    """(first entry, last entry) if the file has the right size, header and SHA-256, else None."""
    if handle.seek(0, 2) != _SIZE:
        return None
    handle.seek(0)
    header = handle.read(len(_MAGIC))
    if header != _MAGIC:
        return None
    digest = hashlib.sha256(header)
    buffer = bytearray(ed.TABLE_CHUNK_SIZE)
    view = memoryview(buffer)
    first = last = None
    for start in range(0, ed.TABLE_ENTRIES, ed.TABLE_CHUNK_ENTRIES):
        size = min(ed.TABLE_CHUNK_ENTRIES, ed.TABLE_ENTRIES - start) * ed.TABLE_ENTRY_SIZE
        if handle.readinto(view[:size]) != size:
            return None
        digest.update(view[:size])
        if start == 0:
            first = bytes(view[: ed.TABLE_ENTRY_SIZE])
        last = bytes(view[size - ed.TABLE_ENTRY_SIZE : size])
    if handle.read(32) != digest.digest():
        return None
    return first, last


def _valid(path):
    """True if the file at path is a complete, intact table of the right points."""
    try:
        with open(path, "rb") as handle:
            entries = _entries_if_intact(handle)
    except OSError:  # missing or unreadable: rebuilt like a corrupt one
        return False
    if entries is None:
        return False
    # The digest shows the file is intact; two recomputed points show it was built right (~3 ms).
    if entries[0] != _entry(ed.BASE):
        return False
    point = ed.BASE
    for _ in range(ed.TABLE_ENTRIES - 1):
        point = ed.double(point)
    return entries[1] == _entry(point)


def open_table(path):
    built = False
    if not _valid(path):
        _build(path)
        built = True
        if not _valid(path):
            raise OSError("ed25519 table %s is unreadable after a rebuild" % path)
    return open(path, "rb"), built
