"""The whole meter firmware (built to .mpy, on the MicroPython unix port) against a gateway the test scripts
(tests/fake_gateway.py): prepaid credit and the relay, grants applied once, tokens, a day offline drained in
batches after a reboot, power cuts at any moment, a gateway that refuses, half-knows or never answers, forged
downlinks, and damaged or full flash. Each scenario runs in virtual time (board.json `sim.speed` 0)."""

import itertools
import json
import random
import shutil
import signal
import socket
import struct
import subprocess
import time

import aiocoap
import cbor2
import pytest
from nacl.signing import SigningKey
from openpaygo import TokenType, generate_token

from enerlectra.downlink import CreditGrant, TimeSync, encode_grant, encode_time
from enerlectra.senml import Reading
from tests.fake_gateway import FakeGateway
from tools.cluster import build_firmware, start_meter
from tools.outbox_image import write_outbox
from tools.provision import new_identity, signing_table, write_board, write_config

START_S = 1_790_000_000 - 1_790_000_000 % 3600  # on the hour: the load profile's steps line up
FAST = {"ack_timeout_ms": 100, "max_retransmit": 1, "console_keys": 1}


@pytest.fixture(scope="module")
def firmware(tmp_path_factory):
    return build_firmware(tmp_path_factory.mktemp("build") / "firmware")


@pytest.fixture
def gateway():
    fake = FakeGateway().start()
    yield fake
    fake.stop()


class Meter:
    """A provisioned virtual meter: its flash folder, and boots of the firmware on it."""

    def __init__(self, flash, firmware, gateway: FakeGateway | None, port: int | None = None, board: dict | None = None,
                 **settings):
        self.flash = flash
        self.firmware = firmware
        self.identity = new_identity("house-1")
        if gateway is not None:
            gateway.kid = self.identity.kid
            gateway.meter_key = self.identity.signing_key.verify_key
            port = gateway.port
        key = gateway.public_key if gateway is not None else bytes(SigningKey.generate().verify_key)
        write_config(flash, self.identity, "127.0.0.1", port, key, **{**FAST, **settings})
        sim = {"speed": 0, "start_s": START_S, "load": {"profile_w": [3600]}}
        sim.update((board or {}).pop("sim", {}))
        write_board(flash, {"name": "virtual", "variant": "virtual", "sim": sim, **(board or {})})
        shutil.copy2(signing_table(firmware), flash / "ed25519.tbl")

    def configure(self, **settings):
        path = self.flash / "config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **settings}))

    def boot(self, stdin: str | None = None, timeout_s: float = 120) -> str:
        process = start_meter(self.flash, self.firmware, stdin=subprocess.PIPE if stdin is not None else
                              subprocess.DEVNULL)
        output, _ = process.communicate(stdin, timeout=timeout_s)
        assert process.returncode == 0, output
        return output

    def start(self, stdin=subprocess.DEVNULL) -> subprocess.Popen:
        return start_meter(self.flash, self.firmware, stdin=stdin)


def lines_with(output: str, text: str) -> list[str]:
    return [line for line in output.splitlines() if text in line]


def token(key_hex: str, count: int, value: int) -> tuple[int, str]:
    return generate_token(secret_key=key_hex, count=count, value=value, token_type=TokenType.ADD_TIME)


# --- prepaid: credit, alerts, relay, grants ---------------------------------------------------------------------


def test_credit_runs_out_the_relay_cuts_and_a_signed_grant_restores_it_once(gateway, firmware, tmp_path):
    # 3.6 kW: 1 Wh a second. 100 Wh of credit, 20 Wh of emergency credit, a warning below 50 Wh.
    meter = Meter(tmp_path / "m", firmware, gateway, credit_wh=100, low_credit_wh=50, emergency_wh=20,
                  interval_s=60, run_s=420)
    grant = gateway.grant(1, 1000)
    other_key = encode_grant(CreditGrant(meter.identity.kid, 2, 9999, 0), SigningKey.generate())
    other_meter = encode_grant(CreditGrant(b"\x01" * 8, 3, 9999, 0), gateway.key)
    # The household pays once the meter has been cut for a while; the gateway keeps offering what it has (and an
    # attacker on the network adds forgeries).
    gateway.on_grants = lambda after: cbor2.dumps(
        [grant, grant, other_key, other_meter] if len(gateway.grant_polls) >= 4 else [])
    output = meter.boot()
    events = [line for line in output.splitlines() if line.startswith(("alert", "relay", "grant"))]
    assert events[:10] == [
        "alert: low credit, 50 Wh left",
        "alert: emergency credit in use, 0 Wh left",
        "relay off: credit used up, -20 Wh",
        "alert: credit empty, -20 Wh left",
        "grant 1 applied: +1000 Wh, credit 980 Wh",
        "grant 1 ignored: already applied",
        "grant rejected: bad signature",
        "grant rejected: downlink addressed to another meter",
        "relay on: credit restored, 980 Wh",
        "alert: none, 980 Wh left",
    ]
    assert len(lines_with(output, "applied: +")) == 1  # exactly once, however often it is offered
    readings = sorted(gateway.stored.values(), key=lambda r: r.seq)
    # No energy flows while the relay is open (the household's load is behind it), and the credit in each
    # reading is the provisioned credit plus the grant minus the energy counted, Wh for Wh.
    assert all(r.credit_wh == max(0, 100 + (1000 if r.credit_wh > 100 else 0) - r.energy_wh) for r in readings)
    cut = [r for r in readings if r.credit_wh == 0]
    assert cut and max(r.energy_wh for r in cut) == 120  # 100 Wh + 20 Wh of emergency credit, then nothing
    # A reboot does not apply the grant again: its id is persisted with the credit.
    again = meter.boot()
    assert "applied: +" not in again


def test_the_meter_takes_its_time_from_the_gateway_and_refuses_a_replayed_time(gateway, firmware, tmp_path):
    gateway.now_s = lambda: START_S + 86400  # the gateway's clock is a day ahead of the board's
    meter = Meter(tmp_path / "m", firmware, gateway, readings_max=2, interval_s=60)
    output = meter.boot()
    assert f"time set to {START_S + 86400} by the gateway" in output
    assert min(r.time_s for r in gateway.stored.values()) >= START_S + 86400
    # An answer recorded earlier (another nonce) is refused: nobody can set a meter's clock back.
    old = encode_time(TimeSync(meter.identity.kid, START_S - 86400, b"old-once"), gateway.key)
    gateway.on_time = lambda nonce: old
    output = meter.boot()
    assert "downlink rejected: time downlink does not echo our nonce" in output
    assert "time set to" not in output


# --- tokens ---------------------------------------------------------------------------------------------------------


def test_tokens_typed_on_the_keypad_top_up_when_the_network_is_down(firmware, tmp_path):
    meter = Meter(tmp_path / "m", firmware, None, port=_closed_port(), credit_wh=10, emergency_wh=0, interval_s=60,
                  run_s=300, tick_ms=1000)
    key_hex = meter.identity.openpaygo_key.hex()
    count, first = token(key_hex, 0, 20)  # 20 x 100 Wh
    board = json.loads((meter.flash / "board.json").read_text())
    board["sim"]["keys"] = [[30, "12345678#"], [40, first + "#"], [50, first + "#"], [55, "99*"]]
    (meter.flash / "board.json").write_text(json.dumps(board))
    output = meter.boot()
    events = [line for line in output.splitlines() if line.startswith(("relay", "token"))]
    assert events == [
        "relay off: credit used up, 0 Wh",  # 10 Wh at 1 Wh/s: cut after ten seconds
        "token rejected: invalid (1 wrong in a row)",
        f"token accepted: type 1 value 20 (count {count}), credit 2000 Wh",
        "relay on: credit restored, 2000 Wh",
        "token rejected: already used (1 wrong in a row)",
    ]
    assert "gateway unreachable" in output  # all of it with no gateway at all


def test_a_gateway_that_never_answers_does_not_freeze_the_keypad_or_the_relay(firmware, tmp_path):
    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # takes datagrams, answers none
    hole.bind(("127.0.0.1", 0))
    try:
        meter = Meter(tmp_path / "m", firmware, None, port=hole.getsockname()[1], credit_wh=0, emergency_wh=0,
                      readings_max=1, ack_timeout_ms=1500, max_retransmit=1)
        key_hex = meter.identity.openpaygo_key.hex()
        _, code = token(key_hex, 0, 10)
        started = time.monotonic()
        process = meter.start(stdin=subprocess.PIPE)
        process.stdin.write(code + "\n")
        process.stdin.flush()
        first_lines = []
        while len(first_lines) < 40:
            line = process.stdout.readline()
            if not line:
                break
            first_lines.append((time.monotonic() - started, line.strip()))
            if "token accepted" in line:
                break
        output, _ = process.communicate(timeout=60)
    finally:
        hole.close()
    accepted = [(t, line) for t, line in first_lines if "token accepted" in line]
    assert accepted, first_lines
    # Typed while the first request to the gateway waits (1.5 s, then 3 s): served at once, not after it.
    assert accepted[0][0] < 1.5, first_lines
    assert not any("gateway unreachable" in line for _, line in first_lines)
    assert "gateway unreachable: Timeout()" in output
    assert not any("relay off" in line for _, line in first_lines)  # topped up before the empty credit cut it


# --- the outbox: an outage, reboots, power cuts --------------------------------------------------------------------


def test_hours_offline_survive_a_reboot_and_drain_in_batches_stored_once(gateway, firmware, tmp_path):
    meter = Meter(tmp_path / "m", firmware, gateway, credit_wh=10**6, interval_s=60, tick_ms=60000,
                  run_s=6 * 3600)
    meter.configure(port=_closed_port())  # the gateway's address answers nothing: ICMP unreachable
    offline = meter.boot()
    assert "outbox holds 360 readings in 11 packs" in offline  # 11 closed packs of 32, 8 still open
    assert not gateway.stored
    meter.configure(port=gateway.port, run_s=60, readings_max=0)
    started = time.monotonic()
    online = meter.boot()
    drained_s = time.monotonic() - started
    assert "outbox: 360 readings in 11 packs" in online
    assert "outbox holds 0 readings" in online
    seqs = sorted(gateway.stored)
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 361  # every reading, each stored once
    assert len(gateway.packs) <= 14  # in batches: a dozen messages, not 360
    assert max(len(pack) for pack in gateway.packs) == 32
    energies = [gateway.stored[seq].energy_wh for seq in seqs]
    assert energies == sorted(energies)
    assert drained_s < 30, drained_s


def test_power_cuts_at_random_moments_lose_no_stored_reading_and_duplicate_none(gateway, firmware, tmp_path):
    meter = Meter(tmp_path / "m", firmware, gateway, credit_wh=10**6, interval_s=60, tick_ms=5000, run_s=3 * 3600)
    rng = random.Random(7)
    outputs = []
    for _ in range(6):
        process = meter.start()
        time.sleep(rng.uniform(0.05, 0.6))
        process.send_signal(signal.SIGKILL)  # the power goes: no cleanup of any kind
        outputs.append(process.communicate()[0])
    meter.configure(run_s=600)
    final = meter.boot()
    assert "outbox holds 0 readings" in final
    seqs = sorted(gateway.stored)
    assert len(seqs) == len(set(seqs)) > 0
    readings = [gateway.stored[seq] for seq in seqs]
    # Counters never go back across the cuts: each boot continues from the persisted state or the outbox.
    assert all(a.energy_wh <= b.energy_wh for a, b in itertools.pairwise(readings))
    assert all(a.time_s <= b.time_s for a, b in itertools.pairwise(readings))
    acked = {int(line.split()[2]) for output in [*outputs, final] for line in lines_with(output, "acked seq")}
    assert acked <= set(seqs)


def test_a_gateway_that_has_part_of_a_pack_gets_only_the_rest(gateway, firmware, tmp_path):
    meter = Meter(tmp_path / "m", firmware, gateway, credit_wh=10**6, interval_s=60, tick_ms=60000, run_s=600)
    meter.configure(port=_closed_port())
    meter.boot()  # ten readings, waiting in the outbox
    gateway.last_seq = 6  # it stored 1..6 once, and the ACK never came back (other bytes: the pack grew since)
    meter.configure(port=gateway.port, run_s=1)
    output = meter.boot()
    assert "gateway has readings up to seq 6 - dropping them from pack" in output
    assert sorted(gateway.stored)[:4] == [7, 8, 9, 10]


@pytest.mark.parametrize("refusal, kept", [
    (aiocoap.Message(code=aiocoap.BAD_REQUEST, payload=b"SenML record 3 must be 'energy'"), False),
    (aiocoap.Message(code=aiocoap.UNAUTHORIZED, payload=b"no meter registered with kid"), True),
    (aiocoap.Message(code=aiocoap.SERVICE_UNAVAILABLE, payload=b"gateway busy writing; retry later"), True),
])
def test_refusals_quarantine_what_never_will_be_taken_and_keep_what_may_be(gateway, firmware, tmp_path, refusal,
                                                                          kept):
    meter = Meter(tmp_path / "m", firmware, gateway, credit_wh=10**6, interval_s=60, tick_ms=60000, run_s=120)
    gateway.on_post = lambda payload: refusal
    output = meter.boot()
    files = sorted(path.name for path in (meter.flash / "ob").iterdir())
    if kept:
        assert "- kept for later" in output and "gateway offline: next attempt in" in output
        assert "bad" not in files
        gateway.on_post = None
        meter.configure(run_s=120)
        assert "outbox holds 0 readings" in meter.boot()
        assert sorted(gateway.stored)[0] == 1
    else:
        assert "refused as malformed" in output and "bad" in files


def test_packs_stored_by_firmware_0_4_1_are_rebuilt_and_delivered(gateway, firmware, tmp_path):
    meter = Meter(tmp_path / "m", firmware, gateway, credit_wh=10**6, interval_s=60, tick_ms=60000, run_s=60)
    write_outbox(meter.flash, meter.identity, [Reading(START_S - 6000 + 60 * i, i + 1, 1000 + i, 0, 400, 5000)
                                               for i in range(40)])
    for pack in (meter.flash / "ob").iterdir():
        data = pack.read_bytes()
        count = struct.unpack_from("<H", data, 2)[0]
        pack.write_bytes(data[: 16 + 28 * count + 64 + 4])  # header, readings, signature, CRC: no message yet
    output = meter.boot()
    assert len(lines_with(output, "rebuilt")) == 2
    assert sorted(gateway.stored)[:40] == list(range(1, 41))


# --- damaged files and a full flash ---------------------------------------------------------------------------------


def test_damaged_config_state_and_outbox_are_reported_and_recovered(gateway, firmware, tmp_path):
    meter = Meter(tmp_path / "m", firmware, gateway, credit_wh=5000, interval_s=60, tick_ms=60000, run_s=300)
    meter.boot()
    stored = len(gateway.stored)
    gateway.grant(1, 700)
    meter.configure(port=_closed_port())
    meter.boot()  # a few readings left in the outbox, and the grant not yet fetched
    (meter.flash / "config.json").write_text("{\"meter_id\": ")  # a write cut short
    for copy in ("state.a", "state.b"):
        raw = bytearray((meter.flash / copy).read_bytes())
        raw[-3] ^= 0xFF
        (meter.flash / copy).write_bytes(raw)
    pack = sorted(p for p in (meter.flash / "ob").iterdir() if p.name.isdigit() or p.name == "open")[0]
    pack.write_bytes(pack.read_bytes() + b"\x00")
    # The backup config names the closed port; the gateway comes back on its own port meanwhile.
    backup = json.loads((meter.flash / "config.bak").read_text())
    backup["port"] = gateway.port
    (meter.flash / "config.bak").write_text(json.dumps(backup))
    output = meter.boot()
    assert "config: restored config.json from config.bak" in output
    assert "flash: state.a is corrupt; ignored" in output and "flash: state.b is corrupt; ignored" in output
    assert "state: lost; restored from reading" in output
    assert "grant 1 skipped: the state was lost and it may have been applied" in output
    assert "applied: +" not in output
    assert len(gateway.stored) > stored
    # Written again from what was recovered: the next boot finds everything in order.
    assert "corrupt" not in meter.boot()


def test_without_any_usable_config_the_meter_waits_to_be_provisioned(gateway, firmware, tmp_path):
    meter = Meter(tmp_path / "m", firmware, gateway, readings_max=1)
    good = (meter.flash / "config.json").read_text()
    (meter.flash / "config.json").write_text("[]")
    process = meter.start()
    time.sleep(1.5)
    assert process.poll() is None  # not crashed: waiting
    (meter.flash / "config.json").write_text(good)
    output, _ = process.communicate(timeout=60)
    assert "waiting for a new one" in output
    assert "enerlectra meter house-1 booted" in output and "acked seq 1" in output


def test_a_full_flash_keeps_the_meter_metering_and_the_newest_readings(firmware, tmp_path):
    meter = Meter(tmp_path / "m", firmware, None, port=_closed_port(), credit_wh=10**6, interval_s=60, tick_ms=60000,
                  run_s=8 * 3600, pack_readings=16, board={"sim": {"flash": {"image": "data.img", "blocks": 24,
                                                                                  "block_size": 512}}})
    output = meter.boot(timeout_s=180)
    assert lines_with(output, "OSError(28,)")  # ENOSPC, as LittleFS on the ESP32 reports it
    assert lines_with(output, "flash full") and lines_with(output, "dropped pack")
    assert "reading seq 480 energy 28740 Wh" in output  # metering and charging went on all the while
    assert "meter stopped after 480 readings" in output


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]



# --- the depletion forecast on the screen, in the readings, across reboots -----------------------------------


def screens(output: str) -> list[list[str]]:
    return [line.removeprefix("screen: ").split(" | ") for line in lines_with(output, "screen: ")]


def test_the_screen_tells_how_long_the_credit_lasts_and_warns_a_day_and_six_hours_ahead(gateway, firmware,
                                                                                          tmp_path):
    # 500 W all day: 16 kWh of credit last 32 h. The first day the naive forecast, then the model.
    meter = Meter(tmp_path / "m", firmware, gateway, credit_wh=16_000, interval_s=600, tick_ms=60_000,
                  run_s=12 * 3600, board={"sim": {"load": {"profile_w": [500]}, "screen_log": 1}})
    first = meter.boot()
    assert "forecast: history" not in first  # nothing to restore on a new meter
    meter.configure(run_s=22 * 3600)
    second = meter.boot()
    # The history survived the reboot: 12 hours but the first (the meter booted in it, a part of it unseen).
    assert "forecast: history of 11 hours restored" in second
    readings = [gateway.stored[seq] for seq in sorted(gateway.stored)]
    assert readings[0].depletion_s is None  # no hour recorded yet: no forecast, the record is left out
    forecasts = [r for r in readings if r.depletion_s is not None and r.credit_wh > 0]
    assert len(forecasts) > 150
    for r in forecasts:  # the forecast against the truth (credit / 500 W): within a few hours
        assert abs(r.depletion_s / 3600 - r.credit_wh / 500) < 3, r
    # Alerts: each raised once per boot (hysteresis), when the credit has about a day, then about 6 h left.
    output = first + second
    day = [lines_with(boot, "forecast: alert credit for less than a day") for boot in (first, second)]
    hours = lines_with(output, "forecast: alert credit for less than 6 hours")
    assert [len(lines) for lines in day] == [1, 1] and len(hours) == 1, (day, hours)
    day_at = next(r for r in forecasts if r.depletion_s <= 24 * 3600)
    hours_at = next(r for r in forecasts if r.depletion_s <= 6 * 3600)
    assert 21 <= day_at.credit_wh / 500 <= 25.5 and 4 <= hours_at.credit_wh / 500 <= 7.5, (day_at, hours_at)
    assert hours_at.time_s - day_at.time_s > 12 * 3600
    shown = screens(output)
    left = [s[5] for s in shown]
    about = [int(line.split()[1]) for line in left if line.startswith("about ")]
    assert max(about) >= 28 and {23, 12, 6, 1} <= set(about) and "under 1 h left" in left, sorted(set(about))
    alerts = [s[6] for s in shown]
    first_day = alerts.index("UNDER 1 DAY LEFT")
    first_hours = alerts.index("UNDER 6 H LEFT")
    assert "" not in alerts[first_day:first_hours]  # the warning stays on the screen
    assert first_day < first_hours < alerts.index("EMERGENCY CREDIT") < alerts.index("CREDIT EMPTY")
    assert shown[-1][5] == ""  # credit spent: no forecast line


def test_a_damaged_forecast_history_is_reported_and_the_meter_starts_a_new_one(gateway, firmware, tmp_path):
    meter = Meter(tmp_path / "m", firmware, gateway, credit_wh=10**6, interval_s=600, tick_ms=60_000,
                  run_s=3 * 3600)
    meter.boot()
    history = meter.flash / "history"
    data = bytearray(history.read_bytes())
    data[20] ^= 0x40  # a rotten byte in the ring
    history.write_bytes(bytes(data))
    output = meter.boot()
    assert "forecast: history unreadable (check failed); starting with none" in output
    assert "forecast: history of" not in output
    history.write_bytes(b"garbage")
    output = meter.boot()
    assert "forecast: history unreadable" in output
    assert "forecast: history of 2 hours restored" in meter.boot()  # the new history was kept
    assert gateway.stored[max(gateway.stored)].depletion_s is not None
