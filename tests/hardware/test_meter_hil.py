"""The meter on a board, seen through its serial console (pytest-embedded), with a real gateway: what a hardware
tester checks on a bench. conftest.py says how it runs on a real ESP32 and on the virtual board; README.md, the
bench it needs."""

import re

import pytest
from openpaygo import TokenType, generate_token

from tools.cluster import Gateway

pytestmark = [pytest.mark.hardware, pytest.mark.parametrize("embedded_services", ["serial"], indirect=True)]


def test_boot_banner(booted, meter):
    found = booted.expect(re.compile(rb"enerlectra meter (\S+) booted; firmware (\S+) \((\S+)\) board (\S+)"),
                          timeout=30)
    assert found.group(1) == b"hil-meter"
    if meter.virtual:  # provisioned with its ROM partition: the code runs from there, not from the filesystem
        assert found.group(3) == b"/rom/meter/boot.mpy"
    booted.expect("signing table ready", timeout=30)
    booted.expect(re.compile(rb"credit 100000 Wh; relay on;"), timeout=10)


def test_a_reading_is_signed_sent_and_acknowledged(booted, meter):
    booted.expect("enerlectra meter hil-meter booted", timeout=30)
    booted.expect(re.compile(rb"reading seq 1 energy \d+ Wh"), timeout=meter.seconds(30))
    booted.expect("acked seq 1 readings 1", timeout=meter.seconds(30))
    totals = meter.gateway.get("/api/meters/hil-meter")
    assert totals["readings"] >= 1 and totals["last_seq"] >= 1


@pytest.mark.meter(credit_wh=40, low_credit_wh=25, emergency_wh=5)
def test_credit_is_counted_down_and_the_relay_cut_at_zero(booted, meter):
    # Needs energy flowing: the virtual board's load, or on a bench a load on the utility meter (README.md).
    booted.expect("credit 40 Wh; relay on;", timeout=30)
    booted.expect("alert: low credit", timeout=meter.seconds(60))
    booted.expect("alert: emergency credit in use", timeout=meter.seconds(60))
    booted.expect(re.compile(rb"relay off: credit used up, -\d+ Wh"), timeout=meter.seconds(60))
    booted.expect("acked seq", timeout=meter.seconds(60))
    readings = meter.gateway.get("/api/meters/hil-meter/readings")
    credits = [reading["credit_wh"] for reading in sorted(readings, key=lambda r: r["seq"])]
    assert credits == sorted(credits, reverse=True) and credits[-1] < 40


@pytest.mark.meter(credit_wh=0, emergency_wh=0)
def test_tokens_typed_at_the_keypad_top_up_and_wrong_ones_are_refused(booted, meter):
    key = meter.identity.openpaygo_key.hex()
    _, token = generate_token(secret_key=key, count=0, value=10, token_type=TokenType.ADD_TIME)
    booted.expect("relay off: credit used up", timeout=meter.seconds(30))
    booted.write("123456789")  # the console counts as a keypad; Enter ends the token
    booted.expect_exact("token rejected: invalid (1 wrong in a row)", timeout=30)
    booted.write(token)
    booted.expect_exact("token accepted: type 1 value 10 (count 2), credit 1000 Wh", timeout=30)
    booted.expect("relay on: credit restored", timeout=30)
    booted.write(token)
    booted.expect("token rejected: already used", timeout=30)


def test_readings_kept_through_an_outage_are_replayed_in_batches(booted, meter):
    booted.expect("acked seq 1 readings 1", timeout=meter.seconds(60))
    gateway = meter.gateway
    gateway.stop()  # the outage
    booted.expect("gateway unreachable", timeout=meter.seconds(60))
    for _ in range(4):
        booted.expect(re.compile(rb"reading seq (\d+)"), timeout=meter.seconds(60))
    restarted = Gateway(gateway.db, gateway.coap_port, gateway.http_port, gateway.host).start()
    try:
        batch = booted.expect(re.compile(rb"acked seq (\d+) readings ([2-9]|\d\d+)"), timeout=meter.seconds(120))
        last = int(batch.group(1))
        totals = restarted.get("/api/meters/hil-meter")
        assert totals["last_seq"] >= last
        assert totals["readings"] == totals["last_seq"]  # every reading stored, once
    finally:
        restarted.stop()
        meter.gateway = restarted
