"""tools/provision.py end to end: a meter provisioned against a running gateway and deployed with mpremote to a
virtual board (the unix port's REPL on a pty made by socat), which then boots from what was copied. This unix
port has no ROM partition that mpremote can write, so the firmware goes to its filesystem, as on a board whose
MicroPython has no ROMFS; the hardware tests (tests/hardware) run a virtual board provisioned with one."""

import json
import subprocess
import sys

from tools.cluster import METER_HEAPSIZE_WITHOUT_ROM, Gateway, start_meter
from tools.virtual_board import VirtualBoard


def test_provisioning_deploys_with_mpremote_and_the_board_boots_and_reports(tmp_path):
    gateway = Gateway(tmp_path / "gateway.db").start()
    flash = tmp_path / "flash"
    flash.mkdir()
    board = VirtualBoard(flash, script=None, heapsize="256K", wait=False)  # the REPL: what mpremote talks to
    try:
        port = board.start()
        result = subprocess.run(
            [sys.executable, "-m", "tools.provision", "--meter-id", "house-9", "--phone", "+260971234567",
             "--register-url", gateway.http_url, "--gateway", "127.0.0.1", "--coap-port", str(gateway.coap_port),
             "--gateway-key", str(gateway.key_path), "--board", "virtual", "--port", port, "--no-reset",
             "--set", "readings_max=2", "--set", "interval_s=1", "--set", "credit_wh=5000"],
            capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "provisioned house-9" in result.stdout and "meter/ in the filesystem" in result.stdout
    finally:
        board.stop()
    files = {path.relative_to(flash).as_posix() for path in flash.rglob("*") if path.is_file()}
    assert {"main.py", "config.json", "board.json", "ed25519.tbl", "meter/device.mpy", "meter/pack.mpy"} <= files
    config = json.loads((flash / "config.json").read_text())
    assert config["gateway_key"] == gateway.public_key.hex()
    assert len(bytes.fromhex(config["openpaygo_key"])) == 16
    assert gateway.get("/api/meters/house-9")["kid"] == config["kid"]
    try:
        # The board boots from its flash alone: main.py and meter/*.mpy as copied (no path from the host).
        process = start_meter(flash, flash, heapsize=METER_HEAPSIZE_WITHOUT_ROM, rom=False)
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, output
        assert "enerlectra meter house-9 booted" in output and "signing table ready" in output
        assert output.count("acked seq") == 2
        assert gateway.get("/api/meters/house-9")["readings"] == 2
    finally:
        gateway.stop()
