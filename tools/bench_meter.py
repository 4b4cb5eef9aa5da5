"""The meter firmware's budgets, measured on the virtual board (the MicroPython unix port) against a real gateway.

    python -m tools.bench_meter [--runs 5] [--days 7] [--skip-heap]

Prints, all measured in this run:
1. size: the deployed .mpy files (what tools/provision.py copies), split into what stays loaded and what is loaded
   only for a phase (boot, CoAP link, downlinks, tokens, outbox repairs, signing, the forecast model), and the
   ROMFS image of meter/ that goes to a board's ROM partition;
2. boot to first signed reading: from starting the process to the reading being signed ("reading seq 1") and
   acknowledged by the gateway ("acked seq 1"), median of --runs boots (each provisioned afresh, the signing
   table prebuilt as provisioning deploys it);
3. heap: the smallest `-X heapsize` in which the whole firmware runs a scenario that exercises every phase — boot
   with a week of forecast history restored, time from the gateway (a signed downlink verified), the depletion
   model run, a backlog of 200 readings drained in packs, a signed credit grant applied, a token typed on the
   keypad and decoded, new readings signed and sent — found by
   bisection (MicroPython has no peak counter; success is not quite monotonic in the heap size, so it is an
   estimate), and the heap in use after boot as the firmware prints it; the same in K words (`-X heapsize=NwK`,
   MicroPython's stand-in for a 32-bit target such as the ESP32). The meter/ package runs from the board's ROM
   partition (tools/virtual_rom.py), as provisioned; then the same in K with it on the filesystem instead (a
   MicroPython without ROMFS);
4. energy accounting over --days simulated days: the load profile of hardware/boards/virtual.json drives the pulse
   LED; the energy the gateway has from the meter's last reading is compared with the profile integrated here
   independently (W x ms, floored to whole pulses). Target: exact to the pulse.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from openpaygo import TokenType, generate_token

from edge.app import open_database
from edge.grants import issue_grant
from edge.identity import load_or_create_gateway_key
from enerlectra.senml import Reading
from tools.bisection import smallest_passing
from tools.cluster import Gateway, build_firmware, start_meter
from tools.firmware_build import micropython, rom_image
from tools.outbox_image import write_outbox
from tools.provision import ROOT, new_identity, register_over_http, signing_table, write_board, write_config

START_S = 1_790_000_000 - 1_790_000_000 % 86400  # midnight UTC: the profile's hours line up with the day
PHASE_MODULES = {"boot", "config", "ed25519_table", "pack", "link", "coap", "downlink", "tokens", "openpaygo",
                 "outbox_fix", "ed25519", "edwards25519", "sha512", "ct", "simct", "simflash", "esp32board", "clock",
                 "trees", "forecast"}
UNUSED_MODULES = {"cbor", "cose", "senml"}  # in the tree, not loaded by the meter's loop


def sizes(firmware: Path) -> None:
    files = {path.stem: path.stat().st_size for path in (firmware / "meter").glob("*.mpy")}
    resident = sum(size for name, size in files.items() if name not in PHASE_MODULES | UNUSED_MODULES)
    phases = sum(size for name, size in files.items() if name in PHASE_MODULES)
    unused = sum(size for name, size in files.items() if name in UNUSED_MODULES)
    main = (firmware / "main.py").stat().st_size
    print(f"size: {main + resident + phases} bytes of .mpy and main.py the meter uses ({len(files)} modules): "
          f"{resident} always loaded, {phases} loaded per phase; {unused} more in the tree for other work "
          f"({', '.join(sorted(UNUSED_MODULES & files.keys()))}); the ROMFS image of meter/ "
          f"{rom_image(firmware).stat().st_size} bytes; signing table file 24 KB")


def provision(gateway: Gateway, flash: Path, firmware: Path, name: str, board: dict, **settings):
    identity = new_identity(name)
    register_over_http(gateway.http_url, identity, "+260971234567")
    write_config(flash, identity, "127.0.0.1", gateway.coap_port, gateway.public_key, **settings)
    write_board(flash, {"name": "virtual", "variant": "virtual", **board})
    shutil.copy2(signing_table(firmware), flash / "ed25519.tbl")
    return identity


def boot_times(gateway: Gateway, firmware: Path, root: Path, runs: int) -> None:
    signed, acked = [], []
    for run in range(runs):
        flash = root / f"boot-{run}"
        provision(gateway, flash, firmware, f"boot-{run}", {"sim": {"speed": 0, "start_s": START_S}}, readings_max=1,
                  console_keys=0)
        started = time.monotonic()
        process = start_meter(flash, firmware, heapsize="256K")
        for line in process.stdout:
            if line.startswith("reading seq 1 "):
                signed.append(time.monotonic() - started)
            if line.startswith("acked seq 1 "):
                acked.append(time.monotonic() - started)
        process.wait()
    print(f"boot to first reading: signed {1000 * statistics.median(signed):.0f} ms, acknowledged by the gateway "
          f"{1000 * statistics.median(acked):.0f} ms (median of {runs} boots; the process start included)")


# A week of hourly consumption on the meter's flash, written by the firmware's own code (meter/forecast.py): the
# meter restores it at boot and runs the depletion model in its main loop, as every meter does once an hour.
WRITE_HISTORY = """
import time
from meter import flash, forecast
hour = (int(time.time()) + 7200) // 3600 - 168
history = forecast.History()
for i in range(168):
    history.record(hour + i, 150 + (i % 24) * 20)
flash.write_atomic(forecast.HISTORY_FILE, forecast.to_file(history.dump(), hour + 168, 0))
"""


def write_history(flash: Path, firmware: Path) -> None:
    subprocess.run([micropython(), "-c", WRITE_HISTORY], cwd=flash, env=dict(os.environ, MICROPYPATH=str(firmware)),
                   check=True, capture_output=True)


# After the meter's own main.py: what MicroPython has interned, every distinct name of every module loaded since
# boot (never freed). Five qstr pools hold 620 names; the 621st allocates a sixth of 640 entries, 7 KB at once.
NAMES_AFTER_MAIN = "\nimport micropython\nmicropython.qstr_info()\n"
NAMES_POOLS_MAX = 5


class Scenario:
    """The heap scenario: a provisioned meter with a backlog, a week of history, a grant waiting and a token to
    type; run(heap_kb) boots a fresh copy of it and says whether every phase ran."""

    PHASES = ("time set to", "grant 1 applied", "token accepted", "outbox holds 0 readings", "acked seq 203",
              "forecast: history of 168 hours restored", "forecast: model run")

    def __init__(self, gateway: Gateway, firmware: Path, root: Path, prefix: str = "heap"):
        self.gateway, self.firmware, self.root, self.prefix = gateway, firmware, root, prefix
        self.key = load_or_create_gateway_key(gateway.key_path)
        self.engine = open_database(gateway.db)
        self.trials = 0

    def run(self, heap_kb: int, script: Path | None = None, unit: str = "K", rom: bool = True) -> tuple[bool, str]:
        self.trials += 1
        name = f"{self.prefix}-{self.trials}"  # a meter the gateway has not seen
        flash = self.root / name
        identity = provision(self.gateway, flash, self.firmware, name, {"sim": {"speed": 0, "start_s": START_S,
                                                                                 "keys": []}},
                             readings_max=3, interval_s=60, credit_wh=5000, console_keys=0)
        _, token = generate_token(secret_key=identity.openpaygo_key.hex(), count=0, value=10,
                                  token_type=TokenType.ADD_TIME)
        board = json.loads((flash / "board.json").read_text())
        board["sim"]["keys"] = [[20, token + "#"]]
        (flash / "board.json").write_text(json.dumps(board))
        write_outbox(flash, identity, [Reading(START_S - 12000 + 60 * i, i + 1, 1000 + i, 0, 400, 5000)
                                       for i in range(200)])
        write_history(flash, self.firmware)
        issue_grant(self.engine, self.key, name, 1500, f"bench-{name}")
        process = start_meter(flash, self.firmware, heapsize=f"{heap_kb}{unit}", script=script, rom=rom)
        output, _ = process.communicate(timeout=300)
        return process.returncode == 0 and all(text in output for text in self.PHASES), output

    def names(self) -> tuple[int, int]:
        """(names interned, qstr pools) at the end of the scenario, in a roomy heap."""
        script = self.root / "names_main.py"
        script.write_text((self.firmware / "main.py").read_text() + NAMES_AFTER_MAIN)
        ok, output = self.run(192, script)
        pools = re.search(r"n_pool=(\d+), n_qstr=(\d+)", output)
        if not ok or not pools:
            raise RuntimeError(f"the scenario failed:\n{output[-3000:]}")
        return int(pools.group(2)), int(pools.group(1))

    def close(self) -> None:
        self.engine.dispose()


def heap(gateway: Gateway, firmware: Path, root: Path) -> None:
    scenario = Scenario(gateway, firmware, root)
    low, high = 40, 192
    ok, output = scenario.run(high)
    if not ok:
        raise RuntimeError(f"the scenario fails even at {high} KB:\n{output[-3000:]}")
    in_use = re.search(r"heap: (\d+) bytes used", output)
    smallest = smallest_passing(lambda heap_kb: scenario.run(heap_kb)[0], low, high)
    # MicroPython's stand-in for a 32-bit target: a heap of N K words (twice the bytes on a 64-bit port).
    words = smallest_passing(lambda heap_kw: scenario.run(heap_kw, unit="wK")[0], low // 2, high // 2)
    names, pools = scenario.names()
    # The same firmware as .mpy files on the filesystem: a board whose MicroPython has no ROMFS.
    ok, output = scenario.run(high, rom=False)
    in_use_without_rom = re.search(r"heap: (\d+) bytes used", output)
    without_rom = smallest_passing(lambda heap_kb: scenario.run(heap_kb, rom=False)[0], low, high)
    scenario.close()

    def kb(match: re.Match | None) -> str:
        return f"{int(match.group(1)) // 1024} KB" if match else "?"

    print(f"heap: the whole firmware runs every phase in {smallest} KB (bisected; fails at {smallest - 1} KB), "
          f"meter/ in the ROM partition; {kb(in_use)} in use after boot; {names} names interned by the end, in "
          f"{pools} qstr pools (five hold 620); in {words} wK (-X heapsize=NwK: stand-in for a 32-bit target)")
    print(f"heap without ROMFS (meter/*.mpy on the filesystem): {without_rom} KB; {kb(in_use_without_rom)} in use "
          f"after boot")


def integrated_pulses(profile_w: list[int], step_s: int, start_s: int, end_s: int, imp_per_kwh: int) -> int:
    """Pulses the profile's energy from start_s to end_s is worth, computed here in whole W x ms."""
    energy_mj, t_ms, end_ms, step_ms = 0, start_s * 1000, end_s * 1000, step_s * 1000
    while t_ms < end_ms:
        step_end = min(end_ms, (t_ms // step_ms + 1) * step_ms)
        energy_mj += profile_w[t_ms // step_ms % len(profile_w)] * (step_end - t_ms)
        t_ms = step_end
    return energy_mj * imp_per_kwh // 3_600_000_000


def week(gateway: Gateway, firmware: Path, root: Path, days: int) -> None:
    spec = json.loads((ROOT / "hardware" / "boards" / "virtual.json").read_text())
    load = spec["sim"]["load"]
    imp = spec["pulse"]["imp_per_kwh"]
    flash = root / "week"
    # No gateway key: the board keeps its own simulated clock (a gateway's time would move it), so the load
    # profile and the integration here share one time line.
    identity = new_identity("week")
    register_over_http(gateway.http_url, identity, "+260971234567")
    write_config(flash, identity, "127.0.0.1", gateway.coap_port, None, interval_s=900, tick_ms=10_000,
                 run_s=days * 86400, credit_wh=10**7, console_keys=0)
    write_board(flash, {**spec, "sim": {**spec["sim"], "speed": 0, "start_s": START_S}})
    shutil.copy2(signing_table(firmware), flash / "ed25519.tbl")
    started = time.monotonic()
    process = start_meter(flash, firmware)
    output, _ = process.communicate(timeout=1800)
    elapsed = time.monotonic() - started
    if process.returncode != 0:
        raise RuntimeError(output[-3000:])
    count = gateway.get("/api/meters/week")["readings"]
    last = gateway.get("/api/meters/week/readings?limit=1")[0]  # the most recent
    expected = integrated_pulses(load["profile_w"], load["step_s"], START_S, last["time_s"], imp) * 1000 // imp
    sim = re.search(r"sim: load (\d+) mJ (\d+) pulses (\d+) bounces", output)
    print(f"energy over {days} simulated days ({count} readings, {elapsed:.0f} s): the gateway has "
          f"{last['energy_wh']} Wh, the profile integrated is worth {expected} Wh: error "
          f"{last['energy_wh'] - expected} Wh ({imp} pulses/kWh; the simulated LED made {sim.group(2)} pulses)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--skip-heap", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-meter-"))
    try:
        firmware = build_firmware(root / "build" / "firmware")
        sizes(firmware)
        gateway = Gateway(root / "gateway.db").start()
        try:
            boot_times(gateway, firmware, root, args.runs)
            if not args.skip_heap:
                heap(gateway, firmware, root)
            week(gateway, firmware, root, args.days)
        finally:
            gateway.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run(["true"])


if __name__ == "__main__":
    main()
