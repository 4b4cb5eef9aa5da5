"""MicroPython with a ROM partition: the virtual board's stand-in for an ESP32's memory-mapped ROMFS.

    python tools/virtual_rom.py IMAGE [MicroPython options] -m MODULE

On a board whose MicroPython has ROMFS (MICROPY_VFS_ROM), the firmware's .mpy files sit in a flash partition that
the CPU reads through its memory map: MicroPython mounts it at /rom and runs their bytecode, and uses their names
and constants, where they lie, without copying them into the heap (docs/meter.md, "Memory"). The unix port can
mount a ROMFS (vfs.VfsRom) but has no flash to map: this maps the image file into the process's memory, outside
MicroPython's heap, and mounts it at /rom before MODULE is imported. The heap then holds what a board's heap holds.

Only the standard library and the unix port's own module: it runs as a file, from the board's flash folder.
"""

import ctypes
import mmap
import sys

import micropython_run

MOUNT = ("import sys, uctypes, vfs\n"
         "vfs.mount(vfs.VfsRom(uctypes.bytearray_at({address}, {size})), '/rom')\n"
         "sys.path.insert(1, '/rom')\n"  # after '', the flash's root, as on a board
         "del sys, uctypes, vfs\n"
         "import {module}\n")


def run(image: str, arguments: list[str]) -> int:
    if "-m" not in arguments[:-1]:
        raise SystemExit(__doc__.split("\n\n")[1])
    at = arguments.index("-m")
    options, module = arguments[:at], arguments[at + 1]
    with open(image, "rb") as file:
        rom = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_COPY)  # copy-on-write: ctypes wants a writable map
    address = ctypes.addressof(ctypes.c_char.from_buffer(rom))
    code = MOUNT.format(address=address, size=len(rom), module=module)
    return micropython_run.run_main(["micropython", *options, "-c", code])


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], sys.argv[2:]))
