"""Measure the meter's RAM: the send path (read, encode, sign, send) on the MicroPython unix port, from .mpy.

    .venv/bin/python -m tools.bench_heap [--runs 5] [--pack 60]

Builds the firmware (tools.firmware_build), starts a real gateway (`enerlectra-edge serve`, tools.cluster) and
registers meters with it, then prints:
- each send-path module's import footprint (gc.mem_alloc() after importing it and collecting, in import
  order so that each figure is that module alone), and what ed25519.use_table keeps once the table is checked;
- the smallest heap (KB, bisected) in which the send path works, every message acknowledged 2.04: five single
  readings one after the other, and three packs of `--pack` readings each (what the outbox sends when it
  drains a backlog), signed either as cose.sign1(senml.encode(...)) or in place by senml.sign1. Each case is
  bisected `--runs` times, each time with a fresh meter identity and other readings, to show how much
  fragmentation moves the figure;
- the largest pack that signs and sends in the 48 KB budget, both ways;
- the size of the send path's .mpy files and of the whole firmware build.

MicroPython has no peak-heap counter, hence the bisection; success is not quite monotonic in the heap size
(fragmentation), so each figure is an estimate. The send loop runs as .mpy, as the meter's own loop does.
tests/firmware/test_heap_budget.py holds the budget with the same script (SEND_PATH).
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.bisection import smallest_passing
from tools.cluster import Gateway
from tools.firmware_build import build, micropython, mpy_cross
from tools.provision import new_identity, register_over_http

BUDGET_KB = 48
TABLE = "ed25519.tbl"
# The modules a meter keeps imported to send readings, in import order (ed25519_table only while use_table runs).
SEND_PATH_MODULES = ["cbor", "sha512", "edwards25519", "ed25519", "cose", "pack", "senml", "coap"]
TIME_S = 1_790_000_000

# A meter's send loop, as the device runs it (from .mpy: see Meter.send).
# Each of `sends` messages is one pack of `pack` readings, signed by `sign`; prints the response code of each.
SEND_PATH = """
import gc
from meter import ed25519
ed25519.use_table({table!r})
gc.collect()
from meter import coap, cose, senml
kid = {kid!r}
seed = {seed!r}
client = coap.Client("127.0.0.1", {port})
seq = {seq}
for i in range({sends}):
    gc.collect()
    pack = [({time_s} + 60 * (seq + j), seq + j, 123456 + 7 * (seq + j), j, 400 + j, 5000 - j) for j in range({pack})]
    message = {sign}
    pack = None
    code, payload = client.request(coap.POST, "/r", payload=message, content_format=coap.FORMAT_COSE_SIGN1)
    message = None
    print("sent", seq, "code", code, "free", gc.mem_free())
    seq += {pack}
client.close()
"""
# The two ways to sign a pack: encode it, then sign the bytes; or senml.sign1, which builds the message in one
# buffer (the payload is never held twice).
SIGN_ENCODED = "cose.sign1(senml.encode(kid, pack), seed, kid)"
SIGN_IN_PLACE = "senml.sign1(kid, pack, seed)"

FOOTPRINT = """
import gc, sys
import meter
gc.collect()
base = gc.mem_alloc()
for name in {modules}:
    __import__("meter." + name)
    gc.collect()
    now = gc.mem_alloc()
    print(name, now - base)
    base = now
# The table module is only needed while use_table checks the file: measured, then forgotten again.
from meter import ed25519_table
gc.collect()
print("ed25519_table", gc.mem_alloc() - base)
del sys.modules["meter.ed25519_table"], meter.ed25519_table, ed25519_table
gc.collect()
base = gc.mem_alloc()
meter.ed25519.use_table({table!r})
gc.collect()
print("after_use_table", gc.mem_alloc() - base)
"""


def run_micropython(code: str, path: str, flash: Path, heap_kb: int, timeout_s: float = 120):
    """Runs `code` with MICROPYPATH `path` (the .mpy build first) and `flash` as the working directory."""
    return subprocess.run(
        [micropython(), "-X", f"heapsize={heap_kb}K", "-c", code],
        cwd=flash,
        env=dict(os.environ, MICROPYPATH=str(path)),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


class Meter:
    """A registered identity and the next unused seq: the gateway refuses a seq it has seen (4.09)."""

    def __init__(self, gateway: Gateway, name: str):
        self.identity = new_identity(name)
        register_over_http(gateway.http_url, self.identity, "+260971234567")
        self.port = gateway.coap_port
        self.next_seq = 1

    def send_path(self, sends: int, pack: int, sign: str = SIGN_ENCODED) -> str:
        """The SEND_PATH script for the next `sends` packs of `pack` readings; reserves their seqs."""
        code = SEND_PATH.format(table=TABLE, port=self.port, seq=self.next_seq, sends=sends, pack=pack,
                                time_s=TIME_S, kid=self.identity.kid, seed=self.identity.seed, sign=sign)
        self.next_seq += sends * pack
        return code

    def send(self, firmware: Path, flash: Path, heap_kb: int, sends: int, pack: int, sign: str = SIGN_ENCODED):
        """Runs the send path in a fresh MicroPython: the script compiled to .mpy like the meter's own loop
        (compiled from source, its code would be allocated high in the heap, above the compiler's garbage,
        splitting what the send path has); returns the CompletedProcess."""
        scripts = flash.parent / "scripts"
        scripts.mkdir(exist_ok=True)
        source = flash.parent / "send_path.py"
        source.write_text(self.send_path(sends, pack, sign))
        subprocess.run([mpy_cross(), "-o", str(scripts / "send_path.mpy"), str(source)], check=True)
        return run_micropython("import send_path", f"{firmware}:{scripts}", flash, heap_kb)


def sent_ok(result: subprocess.CompletedProcess, sends: int) -> bool:
    lines = result.stdout.splitlines()
    return result.returncode == 0 and len(lines) == sends and all(" code 68 " in line for line in lines)


def prepare_flash(firmware: Path, flash: Path) -> None:
    """Writes the base-point table once, with room to spare: a meter builds it at its first boot."""
    flash.mkdir(parents=True, exist_ok=True)
    result = run_micropython(f"from meter import ed25519\ned25519.use_table({TABLE!r})", firmware, flash, 256)
    if result.returncode != 0:
        raise SystemExit(result.stderr)


def smallest_heap_kb(meter: Meter, firmware: Path, flash: Path, sends: int, pack: int, sign: str = SIGN_ENCODED,
                     low_kb: int = 8, high_kb: int = 160) -> int | None:
    """Bisects the heap size (KB) in which `sends` packs of `pack` readings are all acknowledged."""
    def works(heap_kb: int) -> bool:
        return sent_ok(meter.send(firmware, flash, heap_kb, sends, pack, sign), sends)

    return smallest_passing(works, low_kb, high_kb) if works(high_kb) else None


def largest_pack(meter: Meter, firmware: Path, flash: Path, heap_kb: int, sign: str = SIGN_ENCODED) -> int:
    """Bisects the number of readings in one pack that still signs and sends in `heap_kb` (0: not even one)."""
    low, high = 0, 257
    while high - low > 1:
        middle = (low + high) // 2
        if sent_ok(meter.send(firmware, flash, heap_kb, 1, middle, sign), 1):
            low = middle
        else:
            high = middle
    return low


def footprints(firmware: Path, flash: Path) -> list[tuple[str, int]]:
    code = FOOTPRINT.format(modules=SEND_PATH_MODULES, table=TABLE)
    result = run_micropython(code, firmware, flash, 256)
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return [(name, int(size)) for name, size in (line.split() for line in result.stdout.splitlines())]


def spread(values: list[int | None]) -> str:
    """The worst (largest) figure, then each; None (failed even in the largest heap tried) shows as 'fails'."""
    shown = ", ".join("fails" if value is None else str(value) for value in values)
    worst = "fails" if None in values else max(values)
    return f"{worst:>5}  ({shown})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="bisections per case, each with a fresh identity")
    parser.add_argument("--pack", type=int, default=60, help="readings per pack in the batch case")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        firmware = root / "firmware"
        total_bytes = build(firmware)
        send_path_bytes = sum((firmware / "meter" / f"{name}.mpy").stat().st_size
                              for name in [*SEND_PATH_MODULES, "ed25519_table"])
        flash = root / "flash"
        prepare_flash(firmware, flash)
        modules = footprints(firmware, flash)
        gateway = Gateway(root / "gateway.db").start()
        try:
            meters = [Meter(gateway, f"bench-{run}") for run in range(arguments.runs)]
            single = [smallest_heap_kb(meter, firmware, flash, 5, 1) for meter in meters]
            packs = {sign: [smallest_heap_kb(meter, firmware, flash, 3, arguments.pack, sign) for meter in meters]
                     for sign in (SIGN_ENCODED, SIGN_IN_PLACE)}
            most = {sign: largest_pack(meters[0], firmware, flash, BUDGET_KB, sign)
                    for sign in (SIGN_ENCODED, SIGN_IN_PLACE)}
        finally:
            gateway.stop()
    print("Meter send path on the MicroPython unix port, firmware from .mpy, against enerlectra-edge serve:")
    print("  import footprint (bytes of heap still allocated after import and gc.collect()):")
    for name, size in modules:
        print(f"    {name:16} {size:6}")
    kept = sum(size for name, size in modules if name != "ed25519_table")
    print(f"    {'kept in all':16} {kept:6}  (the modules but ed25519_table, and what use_table keeps)")
    print(f"  smallest heap (KB, worst of {arguments.runs} meters, then each):")
    print(f"    5 single readings, {SIGN_ENCODED:46} {spread(single)}")
    for sign, sizes in packs.items():
        print(f"    3 packs of {arguments.pack}, {sign:46} {spread(sizes)}")
    for sign, readings in most.items():
        print(f"  largest pack sent in {BUDGET_KB} KB with {sign}: {readings} readings")
    print(f"  .mpy size: send path {send_path_bytes} bytes, whole firmware build {total_bytes} bytes")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
