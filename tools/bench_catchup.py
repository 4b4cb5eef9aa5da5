"""Outage catch-up: virtual meters, each holding a day's backlog, drain into one gateway when it answers again.

    python -m tools.bench_catchup [--meters 100] [--readings 1440] [--single 60] [--pack 32]

Starts a real gateway (`enerlectra-edge serve`, tools/cluster.py), provisions `--meters` meters (registered over
its HTTP API), gives each an outbox holding `--readings` one-minute readings (a day: 1440) in closed, signed packs
of `--pack` (written on the host in the firmware's format, tools/outbox_image.py, as a meter's own outage leaves
it), then boots all the meters at once (the real firmware, .mpy, on the MicroPython unix port, in the heap
tools/cluster.py sets) and measures how fast the gateway stores what they send: from the boots to the moment the
gateway's database holds every reading, each once.

For comparison it runs the same with one reading per message (`--single` readings per meter, packs of 1): the
rate a gateway sees when each reading travels alone. Prints both rates in readings per second, counted from the
first reading stored (the meters' boots left out) to the last, and their ratio.
All processes share this machine's cores: the meters' own CPU (SenML encoding, CoAP) is in the figure. With
--own-core the gateway has the first core to itself and the meters share the others, as when the gateway is a
machine of its own: both rates are then the gateway's own limits.
"""

import argparse
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from enerlectra.senml import Reading
from tools.cluster import METER_HEAPSIZE, Gateway, build_firmware, start_meter
from tools.outbox_image import write_outbox
from tools.provision import new_identity, register_over_http, signing_table, write_board, write_config

DAY_START_S = 1_790_000_000 - 1_790_000_000 % 86400


def stored(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as connection:
        return connection.execute("SELECT count(*) FROM reading").fetchone()[0]


def backlog(readings: int) -> list[Reading]:
    # A household at 420 W that has never exported, with the meter's forecast of its credit in every reading.
    return [Reading(DAY_START_S + 60 * i, i + 1, 10_000 + 7 * i, 0, 420, 50_000 - 7 * i, (50_000 - 7 * i) * 3600 // 420)
            for i in range(readings)]


def drain(root: Path, firmware: Path, meters: int, readings: int, pack: int,
          heapsize: str = METER_HEAPSIZE, own_core: bool = False) -> tuple[int, float, float]:
    """(readings stored, seconds from the boots, seconds from the first reading stored) for `meters` meters each
    draining `readings` in packs of `pack`. own_core: the gateway runs on the first core, the meters on the others."""
    cores = sorted(os.sched_getaffinity(0))
    if own_core and len(cores) < 2:
        raise SystemExit("--own-core needs at least two cores")
    gateway_cores, meter_cores = (set(cores[:1]), set(cores[1:])) if own_core else (None, None)
    gateway = Gateway(root / "gateway.db").start(cores=gateway_cores)
    try:
        table = signing_table(firmware)
        for number in range(meters):
            flash = root / f"meter-{number}"
            identity = new_identity(f"meter-{number}")
            register_over_http(gateway.http_url, identity, f"+26097{number:07d}")
            # One reading after boot, then the loop ends once the outbox is empty; CoAP as the RFC says.
            write_config(flash, identity, "127.0.0.1", gateway.coap_port, gateway.public_key, readings_max=1,
                         credit_wh=100_000, pack_readings=pack, interval_s=60, console_keys=0)
            write_board(flash, {"name": "virtual", "variant": "virtual",
                                "sim": {"speed": 0, "start_s": DAY_START_S + 86400, "load": {"profile_w": [420]}}})
            shutil.copy2(table, flash / "ed25519.tbl")
            write_outbox(flash, identity, backlog(readings), pack)
        expected = meters * (readings + 1)
        started = time.monotonic()
        processes = [start_meter(root / f"meter-{number}", firmware, heapsize, cores=meter_cores)
                     for number in range(meters)]
        deadline = started + 600
        count = 0
        first = None
        while time.monotonic() < deadline:
            if any(process.poll() not in (None, 0) for process in processes):
                break  # a meter failed: no point waiting for its readings
            count = stored(gateway.db)
            if count and first is None:
                first = time.monotonic()  # the meters have booted and the first pack is in
            if count >= expected:
                break
            time.sleep(0.01)
        ended = time.monotonic()
        for process in processes:
            output, _ = process.communicate(timeout=120)
            if process.returncode != 0 or "outbox holds 0 readings" not in output:
                raise RuntimeError(f"a meter did not drain:\n{output[-2000:]}")
        if count != expected:
            raise RuntimeError(f"the gateway stored {count} readings of {expected}")
        return count, ended - started, ended - first
    finally:
        gateway.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=100)
    parser.add_argument("--readings", type=int, default=1440, help="backlog per meter (1440: a day at 1/min)")
    parser.add_argument("--single", type=int, default=240, help="readings per meter in the one-per-message run")
    parser.add_argument("--pack", type=int, default=32, help="readings per signed pack (the meter's pack_readings)")
    parser.add_argument("--own-core", action="store_true",
                        help="the gateway on a core of its own (as on its own machine in the field), the meters on "
                             "the others")
    args = parser.parse_args()
    firmware = build_firmware(Path(tempfile.mkdtemp(prefix="catchup-fw-")) / "firmware")
    results = {}
    for name, readings, pack in (("batched", args.readings, args.pack), ("single", args.single, 1)):
        root = Path(tempfile.mkdtemp(prefix=f"catchup-{name}-"))
        try:
            count, seconds, flowing = drain(root, firmware, args.meters, readings, pack, own_core=args.own_core)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        results[name] = count / flowing
        print(f"{name:8} {args.meters} meters x {readings + 1} readings, {pack} per message: {count} stored, "
              f"{count / flowing:,.0f} readings/s once flowing ({flowing:.1f} s; {seconds:.1f} s from the boots)")
    shutil.rmtree(firmware.parent, ignore_errors=True)
    print(f"batched / single: {results['batched'] / results['single']:.1f}x  (target >= 10x); "
          f"a day's backlog of one meter crosses in {args.readings / (results['batched'] / args.meters):.1f} s "
          f"while {args.meters} meters drain at once; cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
