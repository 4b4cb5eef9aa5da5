"""Provision a meter and deploy its firmware: one command for a real ESP32 on a serial port or a virtual board.

    python -m tools.provision --meter-id house-1 --phone +260971234567 \
        --register-url http://127.0.0.1:8080 --gateway 192.168.1.10 --gateway-key /var/lib/enerlectra/edge.key \
        --board esp32-devkitc --wifi-ssid coop --wifi-password secret \
        --port /dev/ttyUSB0            # or: --flash DIR (a folder standing for the flash, e.g. a virtual board's)

What it does, in order:
1. a fresh Ed25519 identity (seed, public key, kid = SHA-256(public key)[:8]) and an OpenPAYGO secret (16 bytes);
2. registers the meter's public key with the gateway (POST /api/meters) and its OpenPAYGO secret
   (POST /api/prepaid/openpaygo/<meter>), so that the gateway can verify its readings and sell it tokens;
3. stages the flash contents: the firmware compiled to .mpy (tools/firmware_build.py), config.json (identity,
   gateway address, the gateway's public key that signs downlinks, the OpenPAYGO secret, settings), board.json
   (a pin map from hardware/boards/), and the Ed25519 base-point table, built here with the same firmware code on
   the MicroPython unix port, so that a board does not spend its first boot building it;
4. copies it with mpremote (`--port`; `resume`, so that it works on the unix port's REPL too, where a soft reset
   would end the process) and resets a real board, or into `--flash`. The meter/ package goes to the board's ROM
   partition (`mpremote romfs deploy` of the build's ROMFS image), where MicroPython runs it without copying its
   code into the heap, if the board's MicroPython has ROMFS (hardware/README.md); otherwise, as .mpy files, to its
   filesystem. A `--flash` folder (a virtual board's) gets the image beside it as its ROM partition.
The seed never leaves the meter's flash; the gateway learns only the public key and kid.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

from tools.firmware_build import DEFAULT_OUT, ROOT, build, micropython, mpremote, rom_image

KID_BYTES = 8
OPENPAYGO_KEY_BYTES = 16
BOARDS = ROOT / "hardware" / "boards"
TABLE = "ed25519.tbl"


@dataclass(frozen=True)
class Identity:
    meter_id: str
    seed: bytes
    kid: bytes
    openpaygo_key: bytes = b""

    @property
    def public_key(self) -> bytes:
        return bytes(SigningKey(self.seed).verify_key)

    @property
    def signing_key(self) -> SigningKey:
        return SigningKey(self.seed)


def new_identity(meter_id: str) -> Identity:
    seed = os.urandom(32)
    # The kid names the key, not the person: a digest of the public key, short enough for every message.
    kid = hashlib.sha256(bytes(SigningKey(seed).verify_key)).digest()[:KID_BYTES]
    return Identity(meter_id, seed, kid, os.urandom(OPENPAYGO_KEY_BYTES))


def gateway_public_key(key_file: Path) -> bytes:
    """The public key of the gateway whose seed (hex) is in key_file (edge/identity.py's format)."""
    return bytes(SigningKey(bytes.fromhex(Path(key_file).read_text().strip())).verify_key)


def write_config(flash: Path, identity: Identity, gateway: str, port: int, gateway_key: bytes | None = None,
                 **settings) -> Path:
    """Writes config.json into the meter's flash folder; `settings` are firmware/meter/config.py's options."""
    flash.mkdir(parents=True, exist_ok=True)
    fields = {"meter_id": identity.meter_id, "kid": identity.kid.hex(), "seed": identity.seed.hex(),
              "gateway": gateway, "port": port, **settings}
    if gateway_key is not None:
        fields["gateway_key"] = gateway_key.hex()
    if identity.openpaygo_key:
        fields["openpaygo_key"] = identity.openpaygo_key.hex()
    path = flash / "config.json"
    path.write_text(json.dumps(fields, indent=1))
    return path


def board_spec(board: str, **overrides) -> dict:
    """A pin map from hardware/boards/<board>.json, top-level entries replaced by `overrides`."""
    spec = json.loads((BOARDS / f"{board}.json").read_text())
    spec.update(overrides)
    return spec


def write_board(flash: Path, spec: dict) -> Path:
    flash.mkdir(parents=True, exist_ok=True)
    path = flash / "board.json"
    path.write_text(json.dumps(spec, indent=1))
    return path


def registration(identity: Identity, phone: str) -> dict:
    return {"meter_id": identity.meter_id, "kid": identity.kid.hex(), "public_key": identity.public_key.hex(),
            "phone": phone}


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"},
                                     method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def register_over_http(base_url: str, identity: Identity, phone: str) -> dict:
    """Registers the meter and its OpenPAYGO secret; RuntimeError with the gateway's reason on refusal."""
    try:
        meter = _post(f"{base_url}/api/meters", registration(identity, phone))
    except urllib.error.HTTPError as err:
        raise RuntimeError(f"gateway refused {identity.meter_id}: {err.read().decode()}") from err
    if identity.openpaygo_key:
        try:
            _post(f"{base_url}/api/prepaid/openpaygo/{identity.meter_id}",
                  {"secret_key_hex": identity.openpaygo_key.hex()})
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"gateway refused the token secret of {identity.meter_id}: {err.read().decode()}") \
                from err
    return meter




def signing_table(firmware: Path = DEFAULT_OUT) -> Path:
    """The base-point table file, built once with the firmware's own code on the unix port (same bytes)."""
    table = firmware.parent / TABLE
    code = firmware / "meter" / "edwards25519.mpy"
    if not table.exists() or table.stat().st_mtime < code.stat().st_mtime:
        subprocess.run([micropython(), "-X", "heapsize=512K", "-c",
                        f"from meter import ed25519; ed25519.use_table({str(table)!r})"],
                       env=dict(os.environ, MICROPYPATH=str(firmware)), check=True, capture_output=True)
    return table


def stage(staging: Path, firmware: Path, config: Path, board: Path) -> Path:
    """The flash contents in one folder: main.py, meter/*.mpy, models, config.json, board.json, the table."""
    shutil.copytree(firmware, staging, dirs_exist_ok=True)
    shutil.copy2(config, staging / "config.json")
    shutil.copy2(board, staging / "board.json")
    shutil.copy2(signing_table(firmware), staging / TABLE)
    return staging


def has_romfs(port: str) -> bool:
    """Whether the board's MicroPython was built with ROMFS (a ROM partition that mpremote can write)."""
    result = subprocess.run([mpremote(), "connect", port, "resume", "exec",
                             "import vfs; print('romfs', hasattr(vfs, 'rom_ioctl'))"],
                            capture_output=True, text=True, timeout=60)
    if result.returncode:
        raise RuntimeError(f"mpremote failed: {result.stdout}{result.stderr}")
    return "romfs True" in result.stdout


def deploy(staging: Path, image: Path, port: str, reset: bool) -> str:
    """Copies the staged flash contents to the board on `port` with mpremote; returns where meter/ went.

    A board with ROMFS gets the meter/ package in its ROM partition (`mpremote romfs deploy`), where its code runs
    in place, and a meter/ folder left on its filesystem from an earlier deploy is removed (it would come first
    on sys.path). A board without gets meter/*.mpy on its filesystem, which needs a larger heap (docs/meter.md).
    Folders are made one by one first: mpremote stops a chain of commands at a folder that exists already."""
    rom = has_romfs(port)
    connect = [mpremote(), "connect", port, "resume"]
    if rom:
        result = subprocess.run([*connect, "romfs", "deploy", str(image)], capture_output=True, text=True,
                                timeout=600)
        if result.returncode:
            raise RuntimeError(f"mpremote romfs deploy failed: {result.stdout}{result.stderr}")
        subprocess.run([*connect, "fs", "rm", "-r", ":meter"], capture_output=True, timeout=60)
    skip = {"meter"} if rom else set()
    entries = [entry for entry in sorted(staging.rglob("*")) if entry.relative_to(staging).parts[0] not in skip]
    for folder in (entry for entry in entries if entry.is_dir()):
        subprocess.run([*connect, "fs", "mkdir", f":{folder.relative_to(staging).as_posix()}"],
                       capture_output=True, timeout=60)
    command = list(connect)
    for entry in (entry for entry in entries if entry.is_file()):
        command += ["fs", "cp", str(entry), f":{entry.relative_to(staging).as_posix()}", "+"]
    command += ["fs", "ls", ":"] + (["+", "reset"] if reset else [])
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode:
        raise RuntimeError(f"mpremote failed: {result.stdout}{result.stderr}")
    return "the ROM partition" if rom else "the filesystem (this MicroPython has no ROMFS)"


def provision(meter_id: str, phone: str, register_url: str | None, gateway: str, coap_port: int,
              gateway_key: bytes | None, board: dict, flash: Path | None = None, port: str | None = None,
              reset: bool = True, **settings) -> tuple[Identity, str]:
    """Everything the module doc lists; returns the meter's identity and where its meter/ package went. A flash
    folder (a virtual board's) gets it in the ROM partition beside it (firmware_build.rom_image)."""
    if (flash is None) == (port is None):
        raise ValueError("give exactly one of flash and port")
    identity = new_identity(meter_id)
    if register_url:
        register_over_http(register_url, identity, phone)
    firmware = DEFAULT_OUT
    build(firmware)
    with tempfile.TemporaryDirectory() as temporary:
        files = Path(temporary) / "files"
        config = write_config(files, identity, gateway, coap_port, gateway_key, **settings)
        staged = stage(Path(temporary) / "flash", firmware, config, write_board(files, board))
        if port is not None:
            return identity, deploy(staged, rom_image(firmware), port, reset)
        shutil.rmtree(flash / "meter", ignore_errors=True)
        shutil.copytree(staged, flash, ignore=lambda folder, _: {"meter"} if Path(folder) == staged else set(),
                        dirs_exist_ok=True)
        shutil.copy2(rom_image(firmware), rom_image(flash))
    return identity, "the ROM partition"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meter-id", required=True)
    parser.add_argument("--phone", required=True, help="the household's phone, +260 and 9 digits")
    parser.add_argument("--register-url", default="http://127.0.0.1:8080", help="the gateway's HTTP API ('' to skip)")
    parser.add_argument("--gateway", default="127.0.0.1", help="the gateway's address as the meter reaches it")
    parser.add_argument("--coap-port", type=int, default=5683)
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument("--gateway-key", type=Path, help="the gateway's key file (its public key goes to the meter)")
    keys.add_argument("--gateway-public-key", help="the gateway's Ed25519 public key, 64 hex digits")
    parser.add_argument("--board", default="esp32-devkitc", help="a pin map in hardware/boards/ (virtual: unix port)")
    parser.add_argument("--wifi-ssid")
    parser.add_argument("--wifi-password")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--port", help="serial port of the board, e.g. /dev/ttyUSB0, or a virtual board's pty")
    target.add_argument("--flash", type=Path, help="a folder standing for the meter's flash")
    parser.add_argument("--no-reset", action="store_true", help="do not reset the board after copying")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=INT",
                        help="a config.json integer, e.g. --set credit_wh=5000 (docs/meter.md lists them)")
    args = parser.parse_args()
    gateway_key = None
    if args.gateway_key:
        gateway_key = gateway_public_key(args.gateway_key)
    elif args.gateway_public_key:
        gateway_key = bytes.fromhex(args.gateway_public_key)
    settings = {name: int(value) for name, value in (item.split("=", 1) for item in args.set)}
    if args.wifi_ssid:
        settings.update(wifi_ssid=args.wifi_ssid, wifi_password=args.wifi_password or "")
    identity, where = provision(args.meter_id, args.phone, args.register_url or None, args.gateway, args.coap_port,
                                gateway_key, board_spec(args.board), flash=args.flash, port=args.port,
                                reset=not args.no_reset, **settings)
    print(f"provisioned {identity.meter_id}: kid {identity.kid.hex()}, deployed to {args.port or args.flash}, "
          f"meter/ in {where}")


if __name__ == "__main__":
    main()
