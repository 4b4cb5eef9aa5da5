"""The virtual board's flash file system: a LittleFS image in a host file, with the ESP32's size limit and
power-loss behaviour, mounted at /flash as the meter's data folder (board.json `sim.flash`).

mount(spec, image_path): spec {"blocks": n, "block_size": 512}; formats the image on first use, then mounts it
and makes it the current directory. A full image raises OSError(ENOSPC) on writes, as a full ESP32 flash does.
"""

import os
import sys

import vfs


class BlockFile:
    """A block device over a host file."""

    def __init__(self, path, blocks, block_size):
        self._size = block_size
        self._blocks = blocks
        try:
            self._file = open(path, "r+b")  # noqa: SIM115 (open as long as the file system is mounted)
        except OSError:
            self._file = open(path, "w+b")  # noqa: SIM115
            self._file.write(b"\xff" * (blocks * block_size))
            self._file.flush()

    def readblocks(self, block, buf, offset=0):
        self._file.seek(block * self._size + offset)
        self._file.readinto(buf)

    def writeblocks(self, block, buf, offset=None):
        self._file.seek(block * self._size + (offset or 0))
        self._file.write(buf)
        self._file.flush()

    def ioctl(self, op, arg):
        if op == 4:
            return self._blocks
        if op == 5:
            return self._size
        return 0


def mount(spec, image_path):
    device = BlockFile(image_path, spec.get("blocks", 64), spec.get("block_size", 512))
    try:
        filesystem = vfs.VfsLfs2(device)
    except OSError:
        vfs.VfsLfs2.mkfs(device)
        filesystem = vfs.VfsLfs2(device)
    firmware = os.getcwd()
    vfs.mount(filesystem, "/flash")
    os.chdir("/flash")
    # The firmware stays where it is: the current folder ("" in sys.path, and the package's path when it was
    # imported from there, as on a board) now holds the data.
    if "" in sys.path:
        sys.path[sys.path.index("")] = firmware
    package = sys.modules["meter"]
    if not package.__path__.startswith("/"):
        package.__path__ = firmware + "/" + package.__path__
