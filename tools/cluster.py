"""A cluster on loopback: a gateway process and virtual meters (the real firmware on the MicroPython unix port).

Used by `make run` (tools/demo.py), the end-to-end tests and the benchmarks, so all of them run the same
processes a user would.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tools.firmware_build import DEFAULT_OUT, build, micropython, micropython_with_rom, rom_image
from tools.provision import (
    Identity,
    gateway_public_key,
    new_identity,
    register_over_http,
    signing_table,
    write_board,
    write_config,
)

BIN = Path(sys.executable).parent
# The heap a virtual meter runs in: the budget. The whole firmware, run from a ROM partition, needs about
# 51–52 KB (tools/bench_meter.py); docs/meter.md ("Memory") has the figures and where the RAM goes.
METER_HEAPSIZE = "64K"
# From .mpy files on the board's filesystem instead (a MicroPython without ROMFS): about 70 KB, plus a margin.
METER_HEAPSIZE_WITHOUT_ROM = "112K"


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Gateway:
    """`enerlectra-edge serve` in its own process."""

    def __init__(self, db: Path, coap_port: int | None = None, http_port: int | None = None, host: str = "127.0.0.1"):
        self.db = db
        self.host = host
        self.coap_port = coap_port or free_port(socket.SOCK_DGRAM)
        self.http_port = http_port or free_port(socket.SOCK_STREAM)
        self.process: subprocess.Popen | None = None

    @property
    def key_path(self) -> Path:
        """The gateway's signing key file (`enerlectra-edge serve` keeps it beside its database)."""
        return self.db.with_suffix(".key")

    @property
    def public_key(self) -> bytes:
        return gateway_public_key(self.key_path)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout_s: float = 30, cores: set[int] | None = None) -> "Gateway":
        """cores: the CPUs the gateway may run on (None: any)."""
        self.process = subprocess.Popen(
            [str(BIN / "enerlectra-edge"), "serve", "--db", str(self.db), "--coap-port", str(self.coap_port),
             "--http-port", str(self.http_port), "--host", self.host],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=_on_cores(cores),
        )
        line = self.process.stdout.readline()
        if "enerlectra-edge:" not in line:
            raise RuntimeError(f"gateway did not start: {line}{self.stop()}")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:  # the ready line comes before uvicorn binds
            try:
                self.get("/api/meters")
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("gateway HTTP API did not come up")

    def get(self, path: str):
        with urllib.request.urlopen(self.http_url + path, timeout=10) as response:
            return json.load(response)

    def stop(self) -> str:
        """Stops the gateway as an operator would (SIGINT) and returns what it printed."""
        if self.process is None:
            return ""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        output = self.process.stdout.read()
        self.process.stdout.close()
        self.process = None  # stopped: a second stop() is a no-op
        return output


def provision_meter(gateway: Gateway, flash: Path, meter_id: str, phone: str = "+260971234567",
                    board: dict | None = None, firmware: Path | None = DEFAULT_OUT, **settings) -> Identity:
    """Registers a new meter with the gateway and writes its flash folder: config.json (with the gateway's public
    key and the meter's OpenPAYGO secret), board.json (`board`, default a virtual board at real-time speed) and
    the signing table built from `firmware` (as tools/provision.py deploys it; None: the meter builds it at its
    first boot). `settings` go to config.json."""
    identity = new_identity(meter_id)
    register_over_http(gateway.http_url, identity, phone)
    write_config(flash, identity, "127.0.0.1", gateway.coap_port, gateway.public_key, **settings)
    write_board(flash, board or {"name": "virtual", "variant": "virtual"})
    if firmware is not None:
        shutil.copy2(signing_table(firmware if firmware.exists() else build_firmware(firmware)), flash / "ed25519.tbl")
    return identity


def _on_cores(cores: set[int] | None):
    # Set in the child before exec, so that every thread it starts inherits it.
    return None if cores is None else lambda: os.sched_setaffinity(0, cores)


def start_meter(flash: Path, firmware: Path = DEFAULT_OUT, heapsize: str = METER_HEAPSIZE, stdin=subprocess.DEVNULL,
                cores: set[int] | None = None, script: Path | None = None, rom: bool = True) -> subprocess.Popen:
    """Boots the firmware in `firmware` with `flash` as the meter's flash (its working directory). The meter reads
    keys from its console too: pass stdin=subprocess.PIPE to type them. cores: the CPUs it may run on. script: a
    main.py of one's own (benchmarks: what to print after the meter stops).

    It runs as on a board: main.py and the models in the flash's root (linked there when the firmware was built
    elsewhere), main run as a module so that sys.path starts with "" (the current folder). The meter/ package is
    in the board's ROM partition, the build's ROMFS image (tools/virtual_rom.py); rom=False: in the flash's root
    instead, as on a board whose MicroPython has no ROMFS, which needs a larger heap (docs/meter.md, "Memory")."""
    for part in ("models", "main.py") if rom else ("meter", "models", "main.py"):
        if not (flash / part).exists() and not (flash / part).is_symlink():
            (flash / part).symlink_to(firmware / part)
    if script is not None:
        shutil.copy(script, flash / script.name)
    env = dict(os.environ, MICROPYPATH=":.frozen")
    micropython_command = micropython_with_rom(rom_image(firmware)) if rom else [micropython()]
    return subprocess.Popen(
        [*micropython_command, "-X", f"heapsize={heapsize}", "-m", script.stem if script else "main"],
        cwd=flash, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=_on_cores(cores),
    )


def build_firmware(out: Path = DEFAULT_OUT) -> Path:
    build(out)
    return out
