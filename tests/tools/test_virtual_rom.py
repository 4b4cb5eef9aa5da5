"""The virtual board's ROM partition: the build's ROMFS image (tools/firmware_build.py), mapped and mounted at /rom
by tools/virtual_rom.py, from where MicroPython imports the meter/ package as a board with ROMFS does."""

import hashlib
import subprocess

from tools.firmware_build import build, micropython_with_rom, rom_image

LIST_ROM = """
import hashlib, os
from binascii import hexlify
for name in sorted(os.listdir('/rom/meter')):
    with open('/rom/meter/' + name, 'rb') as file:
        print(name, hexlify(hashlib.sha256(file.read()).digest()).decode())
from meter import cbor
print('imported from', cbor.__file__)
"""


def test_the_rom_partition_holds_the_builds_modules_byte_for_byte_and_the_meter_imports_from_it(tmp_path):
    firmware = tmp_path / "firmware"
    build(firmware)
    flash = tmp_path / "flash"  # no meter/ on the filesystem: the import can only find the ROM's
    flash.mkdir()
    (flash / "list_rom.py").write_text(LIST_ROM)
    result = subprocess.run([*micropython_with_rom(rom_image(firmware)), "-X", "heapsize=64K", "-m", "list_rom"],
                            cwd=flash, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    *listed, imported = result.stdout.splitlines()
    built = [f"{path.name} {hashlib.sha256(path.read_bytes()).hexdigest()}"
             for path in sorted((firmware / "meter").glob("*.mpy"))]
    assert listed == built and len(built) > 30
    assert imported == "imported from /rom/meter/cbor.mpy"


def test_the_rom_runner_says_how_to_call_it_without_a_module(tmp_path):
    image = tmp_path / "empty.romfs"
    image.write_bytes(b"")
    result = subprocess.run([*micropython_with_rom(image), "-X", "heapsize=64K"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "-m MODULE" in result.stderr
