"""The send path's heap budget (issue 2): read, encode, sign and send in `micropython -X heapsize=48K`; and the
whole firmware's interned names (issue 3), which stay in RAM for as long as the meter runs.

The firmware runs from its .mpy build (tools.firmware_build), as deployed, and sends to a real gateway
(`enerlectra-edge serve`) that must acknowledge every message (2.04) and store every reading. The script is
tools.bench_heap's SEND_PATH, which `python -m tools.bench_heap` also uses to find the smallest heap that works.
"""

import pytest

from tools.bench_heap import BUDGET_KB, SIGN_ENCODED, SIGN_IN_PLACE, Meter, prepare_flash, sent_ok
from tools.bench_meter import NAMES_POOLS_MAX, Scenario
from tools.cluster import Gateway
from tools.firmware_build import build

# Margin below the budget that a single reading must also pass in: a layout that only just fits would turn
# any later change into a fragmentation lottery.
MARGIN_KB = 2
# Readings per pack below: the bench prints the largest that fits (a pack is ~85 bytes per reading).
PACK_ENCODED = 12
PACK_IN_PLACE = 26


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """(firmware build, flash folder with the base-point table already written)."""
    root = tmp_path_factory.mktemp("heap")
    firmware = root / "firmware"
    build(firmware)
    flash = root / "flash"
    prepare_flash(firmware, flash)
    return firmware, flash


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gateway = Gateway(tmp_path_factory.mktemp("gateway") / "gateway.db").start()
    yield gateway
    gateway.stop()


def send_and_check(gateway, board, name, heap_kb, sends, pack, sign=SIGN_ENCODED):
    firmware, flash = board
    meter = Meter(gateway, name)
    result = meter.send(firmware, flash, heap_kb, sends, pack, sign)
    assert sent_ok(result, sends), result.stdout + result.stderr
    totals = gateway.get(f"/api/meters/{name}")
    assert (totals["last_seq"], totals["readings"]) == (sends * pack, sends * pack)


@pytest.mark.parametrize("heap_kb", [BUDGET_KB, BUDGET_KB - MARGIN_KB])
def test_single_readings_are_signed_sent_and_stored_in_the_budget(gateway, board, heap_kb):
    send_and_check(gateway, board, f"single-{heap_kb}", heap_kb, sends=5, pack=1)


def test_a_backlog_pack_encoded_then_signed_fits_the_budget(gateway, board):
    send_and_check(gateway, board, "pack-encoded", BUDGET_KB, sends=3, pack=PACK_ENCODED)


def test_a_larger_pack_signed_in_place_fits_the_budget(gateway, board):
    send_and_check(gateway, board, "pack-in-place", BUDGET_KB, sends=3, pack=PACK_IN_PLACE, sign=SIGN_IN_PLACE)


def test_the_whole_firmware_interns_no_more_names_than_five_qstr_pools_hold(gateway, board, tmp_path):
    # Every phase of the meter (tools/bench_meter's heap scenario). MicroPython never frees an interned name, and
    # the 621st allocates a sixth pool of 640 entries: 7 KB at once (docs/meter.md, "Memory").
    scenario = Scenario(gateway, board[0], tmp_path)
    try:
        names, pools = scenario.names()
    finally:
        scenario.close()
    assert pools <= NAMES_POOLS_MAX, f"{names} names interned, in {pools} pools"


# The whole firmware running every phase (tools/bench_meter's heap scenario), with meter/ in the board's ROM
# partition as provisioning deploys it (tools/virtual_rom.py): the budget, 64 KB on this 64-bit port, and
# bounds a few KB above what was measured (51–52 KB; 26 K words, -X heapsize=NwK: a 32-bit target's object sizes, as on
# the ESP32), so that what was won does not slip back. From .mpy files on the filesystem instead (a MicroPython
# without ROMFS) it was measured in 70 KB. A fragmented heap's layout moves each figure by a KB or two from one
# change to the next (docs/meter.md, "Memory").
WHOLE_FIRMWARE_HEAPS = [(64, "K", True), (56, "K", True), (30, "wK", True), (74, "K", False)]


@pytest.mark.parametrize(("heap", "unit", "rom"), WHOLE_FIRMWARE_HEAPS)
def test_the_whole_firmware_runs_every_phase_within_its_bound(gateway, board, tmp_path, heap, unit, rom):
    scenario = Scenario(gateway, board[0], tmp_path, prefix=f"whole-{heap}{unit}-{'rom' if rom else 'fs'}")
    try:
        ok, output = scenario.run(heap, unit=unit, rom=rom)
    finally:
        scenario.close()
    assert ok, output[-3000:]
