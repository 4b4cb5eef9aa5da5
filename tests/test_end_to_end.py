"""The spine end to end: real firmware processes (MicroPython unix port, .mpy build, the heap tools/cluster.py
sets) send signed readings over CoAP on loopback to a real `enerlectra-edge serve` process, which stores them."""

import pytest

from tools.cluster import Gateway, build_firmware, provision_meter, start_meter

READINGS = 4


@pytest.fixture(scope="module")
def firmware(tmp_path_factory):
    return build_firmware(tmp_path_factory.mktemp("build") / "firmware")


@pytest.fixture
def gateway(tmp_path):
    gateway = Gateway(tmp_path / "gateway.db").start()
    yield gateway
    gateway.stop()


def test_virtual_meters_send_signed_readings_that_the_gateway_stores(gateway, firmware, tmp_path):
    powers_w = {"house-1": 360, "house-2": 3600, "house-3": 0}
    meters = {}
    for meter_id, power_w in powers_w.items():
        flash = tmp_path / meter_id
        provision_meter(gateway, flash, meter_id, readings_max=READINGS, interval_s=1, sim_power_w=power_w,
                        credit_wh=2500, firmware=firmware)
        meters[meter_id] = start_meter(flash, firmware)
    for meter_id, process in meters.items():
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, output
        assert f"enerlectra meter {meter_id} booted" in output
        assert output.count("acked seq") == READINGS, output

    for meter_id, power_w in powers_w.items():
        totals = gateway.get(f"/api/meters/{meter_id}")
        assert (totals["last_seq"], totals["readings"]) == (READINGS, READINGS)
        # Prepaid: what the meter counted came off the 2500 Wh it was provisioned with, Wh for Wh.
        assert totals["credit_wh"] == 2500 - totals["energy_wh"]
        readings = gateway.get(f"/api/meters/{meter_id}/readings")
        elapsed_s = readings[0]["time_s"] - readings[-1]["time_s"]
        assert elapsed_s >= READINGS - 1  # one reading a second
        # Energy integrates the simulated load: power × time, in whole Wh.
        energy_wh = readings[0]["energy_wh"] - readings[-1]["energy_wh"]
        assert abs(energy_wh - power_w * elapsed_s // 3600) <= power_w // 3600 + 1


def test_meter_restarted_continues_its_sequence_and_is_not_taken_for_a_replay(gateway, firmware, tmp_path):
    flash = tmp_path / "house-1"
    provision_meter(gateway, flash, "house-1", readings_max=2, interval_s=1, firmware=firmware)
    for boot in (1, 2):
        output, _ = start_meter(flash, firmware).communicate(timeout=120)
        assert output.count("acked seq") == 2, f"boot {boot}: {output}"
    assert gateway.get("/api/meters/house-1")["last_seq"] == 4
    assert gateway.get("/api/meters/house-1")["readings"] == 4
