"""The virtual board on a serial port: the MicroPython unix port on a pseudo-terminal, bridged by socat.

    board = VirtualBoard(flash_dir, script="main.py")   # or script=None: the REPL, for mpremote
    port = board.start()                                 # the pty's path: what --port is for a real board
    ...                                                   # pyserial, pytest-embedded, mpremote on `port`
    board.stop()

socat makes a raw pty (a cooked one turns line ends into \\r\\r\\n and breaks mpremote) and, with `wait-slave`,
starts MicroPython only when something opens the port, so that nothing printed at boot is lost (pyserial
flushes its input when it opens). The unix port's working directory is the board's flash; main.py runs the
firmware from it, as on an ESP32. Its ROM partition, when it has one, is the file beside the flash folder that
firmware_build.rom_image() names (tools/virtual_rom.py maps it; tools/provision.py writes it): main.py then runs
the meter/ package from there. A soft reset (Ctrl-D) ends the unix port: use mpremote's `resume`.
"""

import shutil
import subprocess
import time
from pathlib import Path

from tools.firmware_build import micropython, micropython_with_rom, rom_image


class VirtualBoard:
    def __init__(self, flash: Path, script: str | None = "main.py", heapsize: str = "64K", wait: bool = True):
        if shutil.which("socat") is None:
            raise RuntimeError("socat not found: apt-get install socat")
        self.flash = Path(flash)
        self.script = script
        self.heapsize = heapsize
        self.wait = wait
        self.port = str(self.flash.parent / f".tty-{self.flash.name}")
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 10) -> str:
        rom = rom_image(self.flash)
        if self.script and rom.exists():  # the ROM holds meter/; main.py is imported after it is mounted
            program = " ".join([*micropython_with_rom(rom), f"-X heapsize={self.heapsize} -m {Path(self.script).stem}"])
        else:
            program = f"{micropython()} -X heapsize={self.heapsize}" + (f" {self.script}" if self.script else "")
        pty = f"PTY,link={self.port},raw,echo=0" + (",wait-slave" if self.wait else "")
        self.process = subprocess.Popen(
            ["socat", pty, f"EXEC:{program},pty,raw,echo=0,stderr"], cwd=self.flash,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout_s
        while not Path(self.port).exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"socat did not make {self.port}: {self.process.stderr.read().decode()}")
            time.sleep(0.01)
        return self.port

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stderr.close()
        self.process = None

    def __enter__(self) -> "VirtualBoard":
        self.start()
        return self

    def __exit__(self, *_) -> None:
        self.stop()
