"""The meter's parts in MicroPython, one at a time: persisted state, credit rules, token entry and lock-out,
screen and keys, the virtual board's load and pulse counting, gateway downlinks, config recovery."""

import json

import pytest
from nacl.signing import SigningKey
from openpaygo import TokenType, generate_token

from enerlectra.cose import sign1
from enerlectra.downlink import CreditGrant, TimeSync, encode_grant, encode_time

KEY_HEX = "a29ab82edc5fbbc41ec9530f6dac86b1"


def lines(micropython, script: str, heapsize: str = "256K") -> list:
    return [json.loads(line) for line in micropython.run(script, heapsize=heapsize).stdout.splitlines()
            if line[:1] in "[{"]


# --- state: two copies, each with a CRC ---------------------------------------------------------------------


def test_state_survives_a_torn_or_rotten_copy_and_reports_total_loss(micropython):
    results = lines(micropython, """
import json
from meter import state
s = state.State("st")
print(json.dumps([s.load(), s.lost]))
s.credit_wh = 100; s.seq = 1; s.save()
s.credit_wh = 200; s.seq = 2; s.token_used = [3, 4]; s.save()
t = state.State("st"); t.load()
print(json.dumps([t.credit_wh, t.seq, t.token_used]))
# The newest copy (st.b) torn halfway: the one before it is used.
data = open("st.b", "rb").read()
open("st.b", "wb").write(data[: len(data) // 2])
t = state.State("st"); print(json.dumps([t.load(), t.credit_wh, t.seq]))
# Writing goes on over the damaged copy.
t.credit_wh = 300; t.save()
u = state.State("st"); u.load(); print(json.dumps([u.credit_wh]))
# Both copies rotten: nothing loads, and the loss is reported.
for path in ("st.a", "st.b"):
    raw = bytearray(open(path, "rb").read()); raw[-2] ^= 1; open(path, "wb").write(raw)
v = state.State("st"); print(json.dumps([v.load(), v.lost]))
""")
    assert results == [[False, False], [200, 2, [3, 4]], [True, 100, 1], [300], [False, True]]


# --- credit ---------------------------------------------------------------------------------------------------


def test_credit_is_charged_in_whole_wh_and_the_relay_follows_the_rules(micropython):
    results = lines(micropython, """
import json
from meter import credit, state
s = state.State("st"); s.credit_wh = 1500
a = credit.Credit(s, low_credit_wh=1000, emergency_wh=200)
out = []
def step(energy_wh):
    a.charge(energy_wh)
    changed = a.update_relay()
    out.append([energy_wh, s.credit_wh, a.level(), s.relay_open, changed])
for energy in (0, 400, 600, 1499, 1500, 1650, 1700, 1701, 1750):
    step(energy)
a.top_up(100); changed = a.update_relay(); out.append(["+100", s.credit_wh, a.level(), s.relay_open, changed])
a.top_up(500); changed = a.update_relay(); out.append(["+500", s.credit_wh, a.level(), s.relay_open, changed])
s.payg_off = True; a.charge(5000); changed = a.update_relay()
out.append(["off", s.credit_wh, a.level(), s.relay_open, changed])
print(json.dumps(out))
""")[0]
    NORMAL, LOW, EMERGENCY, DEPLETED, UNLIMITED = range(5)
    assert results == [
        [0, 1500, NORMAL, False, False],
        [400, 1100, NORMAL, False, False],
        [600, 900, LOW, False, False],  # the warning before the credit runs out
        [1499, 1, LOW, False, False],
        [1500, 0, EMERGENCY, False, False],  # zero: emergency credit starts
        [1650, -150, EMERGENCY, False, False],
        [1700, -200, DEPLETED, True, True],  # emergency credit spent: the supply is cut
        [1701, -201, DEPLETED, True, False],  # energy still counted (e.g. a bypass) is still charged
        [1750, -250, DEPLETED, True, False],
        ["+100", -150, DEPLETED, True, False],  # a top-up that does not repay the emergency credit: still off
        ["+500", 350, LOW, False, True],  # credit above zero: on again at once
        ["off", 350, UNLIMITED, False, False],  # prepaid turned off by a token: nothing charged
    ]


# --- tokens typed on the keypad --------------------------------------------------------------------------------

TOKENS = """
import json
from binascii import unhexlify
from meter import credit, state, tokens
s = state.State("st"); s.credit_wh = 1000
a = credit.Credit(s, 1000, 200)
key = unhexlify({key!r})
now = 1000
for token, advance in json.loads({entries!r}):
    now += advance
    note, line = tokens.enter(token, s, a, key, 100, now)
    print(json.dumps([note, line, s.credit_wh, s.token_fails, s.token_locked_s - now if s.token_locked_s > now else 0]))
"""


def issue(count: int, value: int | None, kind: int = TokenType.ADD_TIME) -> tuple[int, str]:
    return generate_token(secret_key=KEY_HEX, count=count, value=value, token_type=kind)


def test_tokens_top_up_once_and_wrong_ones_say_so_and_lock_entry_out(micropython):
    count, first = issue(0, 50)  # 50 x 100 Wh
    count, second = issue(count, 25)
    entries = [[first, 0], [first, 1], ["123456789", 1], ["111111111", 1], ["222222222", 1], ["333333333", 1],
               [second, 1],  # locked: refused, even though it is good
               [second, 60],  # after the lock-out: accepted
               ["444444444", 1], ["555555555", 1], ["666666666", 1], ["777777777", 1], ["888888888", 1],
               ["999999999", 61]]
    results = lines(micropython, TOKENS.format(key=KEY_HEX, entries=json.dumps(entries)))
    notes = [r[0] for r in results]
    credits = [r[2] for r in results]
    assert notes[:7] == ["TOKEN +5.0 kWh", "TOKEN USED", "WRONG TOKEN", "WRONG TOKEN", "WRONG TOKEN", "WRONG TOKEN",
                         "LOCKED 59 s"]
    assert credits[:7] == [6000] * 7  # once, and nothing for wrong tokens
    assert "already used" in results[1][1]
    assert results[5][4] == 60  # the fifth wrong token in a row (a used one counts) locks entry for a minute
    assert (notes[7], credits[7], results[7][3]) == ("TOKEN +2.5 kWh", 8500, 0)  # a good token resets the count
    # Five more wrong ones lock it again; one more once the lock-out is over doubles it.
    assert results[12][4] == 60 and results[13][4] == 120


def test_set_disable_and_counter_sync_tokens_and_a_lost_state(micropython):
    count, set_token = issue(0, 7, TokenType.SET_TIME)
    count, add = issue(count, 3)
    count, sync = issue(count, None, TokenType.COUNTER_SYNC)
    count, disable = issue(count, None, TokenType.DISABLE_PAYG)
    results = lines(micropython, TOKENS.format(key=KEY_HEX, entries=json.dumps(
        [[set_token, 0], [add, 0], [sync, 0], [disable, 0]])))
    assert [(r[0], r[2]) for r in results] == [("CREDIT SET", 700), ("TOKEN +0.3 kWh", 1000), ("TOKEN SYNCED", 1000),
                                               ("PAYG OFF", 1000)]
    # After a lost state the counter restarted at zero: only a COUNTER_SYNC token is accepted.
    script = TOKENS.replace('s.credit_wh = 1000', 's.credit_wh = 1000; s.token_resync = True')
    results = lines(micropython, script.format(key=KEY_HEX, entries=json.dumps([[add, 0], [sync, 0], [add, 0]])))
    assert [r[0] for r in results] == ["SYNC TOKEN", "TOKEN SYNCED", "TOKEN USED"]


def test_without_a_token_key_tokens_are_refused(micropython):
    results = lines(micropython, TOKENS.replace("key = unhexlify({key!r})", "key = None").format(
        key=KEY_HEX, entries=json.dumps([["123456789", 0]])))
    assert results[0][0] == "NO TOKENS"


# --- keys and screen -------------------------------------------------------------------------------------------


def test_keys_collect_a_token_and_the_screen_shows_credit_alerts_and_entry(micropython, tmp_path):
    results = lines(micropython, """
import json
from meter import credit, display, keypad, simboard
entry = keypad.TokenEntry()
typed = [entry.key(c, 100) for c in "12*3456789012#"]
print(json.dumps([[t for t in typed if t], entry.digits]))
entry.key("5", 100); entry.key("5", 200)  # an entry left for more than a minute starts again
print(json.dumps([entry.digits]))
driver = simboard.Board({"sim": {"display_dump": "screen.pbm"}}).screen
screen = display.Screen(driver, utc_offset_s=7200)
now = 1790000000  # 2026-09-21 12:53:20 UTC
print(json.dumps([screen.show(now, 12345, 420, credit.NORMAL, "", 0, True), list(screen.lines)]))
print(json.dumps([screen.show(now, 12345, 420, credit.NORMAL, "", 0, True)]))  # unchanged: not redrawn
screen.show(now, -120, 0, credit.DEPLETED, "123", 57, False, hours_left=3)
print(json.dumps(list(screen.lines)))
screen.note("TOKEN +5.0 kWh", now + 10)
screen.show(now, 4880, 0, credit.LOW, "", 0, True)
print(json.dumps([list(screen.lines), driver.frames]))
shown = []
for hours, credit_level, alert in ((30.2, credit.NORMAL, 0), (100, credit.NORMAL, 0), (500, credit.NORMAL, 0),
                                   (23.6, credit.NORMAL, 1), (0.4, credit.LOW, 1), (5.5, credit.LOW, 2)):
    screen.show(now + 20, 4880, 0, credit_level, "", 0, True, hours, alert)
    shown.append(screen.lines[5:7])
print(json.dumps(shown))
""".replace("screen.pbm", str(tmp_path / "screen.pbm")))
    assert results[0] == [["345678901"], ""]  # "*" clears, nine digits at most, "#" ends the token
    assert results[1] == ["5"]
    drawn, screen = results[2]
    assert drawn is True
    assert screen == ["ENERLECTRA 16:13", "", "CREDIT", "      12.345 kWh", "POWER      420 W", "", "", "ONLINE"]
    assert results[3] == [False]
    # No forecast line once the credit is spent.
    assert results[4] == ["ENERLECTRA 16:13", "", "CREDIT", "      -0.120 kWh", "POWER        0 W", "",
                          "CREDIT EMPTY", "> 123_"]
    assert results[5][0][6] == "TOKEN +5.0 kWh" and results[5][1] == 3
    # The forecast line, and its alerts on the alert line: 6 h outranks LOW CREDIT, LOW CREDIT outranks a day.
    assert results[6] == [["about 30 h left", ""], ["4 days left", ""], ["over a week left", ""],
                          ["about 24 h left", "UNDER 1 DAY LEFT"], ["under 1 h left", "LOW CREDIT"],
                          ["about 6 h left", "UNDER 6 H LEFT"]]
    image = (tmp_path / "screen.pbm").read_bytes()
    assert image.startswith(b"P4\n128 64\n") and len(image) == 10 + 1024
    rows = image[10:]
    # The alert line is drawn inverted: its band (rows 48..55) is mostly lit (white, 0 in PBM).
    band = rows[48 * 16:56 * 16]
    assert sum(bin(byte ^ 0xFF).count("1") for byte in band) > 0.6 * 128 * 8
    assert any(byte != 0xFF for byte in rows[:8 * 16])  # text on the first line


# --- the virtual board: exact pulses from the load profile, debounce, relay, CT ------------------------------


def test_the_virtual_load_makes_exactly_the_pulses_its_energy_is_worth(micropython):
    [[pulses, counted, rejected, energy_mj, off_pulses]] = lines(micropython, """
import json
from meter import simboard
spec = {"pulse": {"imp_per_kwh": 3200, "debounce_ms": 20},
        "sim": {"speed": 0, "start_s": 1790000000, "load": {"profile_w": [137, 2500, 0, 999], "step_s": 900,
                                                              "bounce_every": 7}}}
board = simboard.Board(spec)
board.relay.set(True)
for _ in range(2000):
    board.clock.sleep_ms(3333)  # ticks that do not line up with the profile's steps
board.relay.set(False)
before = board.pulses_made
board.clock.sleep_ms(3600000)
print(json.dumps([board.pulses_made, board.pulses.count, board.pulses.rejected, board.energy_mj,
                  board.pulses_made - before]))
""")
    # The profile integrated here, independently: 4 steps of 900 s repeating, by wall-clock time.
    profile, step_ms, elapsed_ms = [137, 2500, 0, 999], 900_000, 2000 * 3333
    expected_mj = energy_by_steps(profile, step_ms, 1_790_000_000_000, elapsed_ms)
    assert energy_mj == expected_mj
    assert pulses == counted == expected_mj * 3200 // 3_600_000_000  # exact to the pulse
    assert rejected == pulses // 7  # every bounce rejected by the debounce
    assert off_pulses == 0  # no load flows while the relay is open


def energy_by_steps(profile, step_ms, start_ms, elapsed_ms):
    total, t = 0, 0
    while t < elapsed_ms:
        absolute = start_ms + t
        end = min(elapsed_ms, t + step_ms - absolute % step_ms)
        total += profile[absolute // step_ms % len(profile)] * (end - t)
        t = end
    return total


def test_the_current_transformer_reads_the_load_power(micropython):
    [[power]] = lines(micropython, """
import json
from meter import simboard
board = simboard.Board({"ct": {"milliamps_per_count": 2, "volts": 230},
                        "sim": {"speed": 0, "start_s": 1790000000, "load": {"profile_w": [1840]}}})
board.relay.set(True)
print(json.dumps([board.ct.power_w()]))
""")
    assert abs(power - 1840) <= 1840 * 0.02


# --- downlinks on the meter ---------------------------------------------------------------------------------------

GATEWAY = SigningKey(bytes(range(32)))
KID = bytes.fromhex("0102030405060708")


def check_downlinks(micropython, downlinks: list[tuple[bytes | None, bytes]]) -> list:
    """Each downlink (nonce, payload) read, its signatures checked, as the meter does (meter/device.py, _check):
    the outcomes of its claims."""
    script = f"""
import json
import meter
from meter import downlink
for downlink_ in {downlinks!r}:
    claims = downlink.read([downlink_], {KID!r})
    meter.check_signatures(claims, {bytes(GATEWAY.verify_key)!r})
    print(json.dumps([claim[3] for claim in claims]))
"""
    return lines(micropython, script)


def test_downlinks_are_verified_and_checked_before_the_meter_acts(micropython):
    grant = encode_grant(CreditGrant(KID, 7, 5000, 1_790_000_000), GATEWAY)
    other_key = encode_grant(CreditGrant(KID, 7, 5000, 1_790_000_000), SigningKey.generate())
    other_meter = encode_grant(CreditGrant(b"\x09" * 8, 7, 5000, 1_790_000_000), GATEWAY)
    time_message = encode_time(TimeSync(KID, 1_790_000_123, b"nonce-01"), GATEWAY)
    tampered = bytearray(grant)
    tampered[30] ^= 1
    import cbor2

    def signed(payload) -> bytes:
        return sign1(cbor2.dumps(payload, canonical=True), GATEWAY, b"gw")

    def grants(*messages) -> tuple[None, bytes]:
        return None, cbor2.dumps(list(messages))

    results = check_downlinks(micropython, [
        grants(grant),
        (b"nonce-01", time_message),
        grants(grant, grant),
        grants(),
        grants(other_key),  # signed by someone else
        grants(bytes(tampered)),
        grants(other_meter),
        (b"nonce-02", time_message),  # an old answer replayed
        grants(time_message),  # a time is not a grant
        grants(signed({0: 1, 1: KID, 2: 8, 3: 0, 4: 1})),  # zero credit
        grants(signed({0: 1, 1: KID, 2: 8, 3: 10**8, 4: 1})),  # beyond any household
        grants(signed({0: 1, 1: KID, 2: True, 3: 5, 4: 1})),
        grants(b"\xd2\x84"),  # truncated
        grants(b"garbage!"),
        (b"nonce-01", b"garbage!"),
        (None, b"\xa0"),  # not an array
        (None, b"\x9f\xff"),  # indefinite length
        # Out of range and signed by someone else: the signature is what is reported, as it is checked first.
        grants(sign1(cbor2.dumps({0: 1, 1: KID, 2: 8, 3: 0, 4: 1}, canonical=True), SigningKey.generate(), b"gw")),
    ])
    assert results[:4] == [[[7, 5000]], [1_790_000_123], [[7, 5000], [7, 5000]], [None]]
    assert results[4:9] == [["bad signature"], ["bad signature"], ["downlink addressed to another meter"],
                            ["time downlink does not echo our nonce"], ["downlink of another type"]]
    assert results[9:12] == [["downlink field 3 out of range"]] * 2 + [["downlink field 2 out of range"]]
    assert results[12:15] == [["CBOR truncated"], ["not a COSE_Sign1"], ["not a COSE_Sign1"]]
    assert results[15:] == [["grants must be an array"], ["CBOR length not supported"], ["bad signature"]]


# --- config ---------------------------------------------------------------------------------------------------------

CONFIG = {"meter_id": "m", "kid": "0102", "seed": "00" * 32, "gateway": "127.0.0.1"}


@pytest.mark.parametrize("damage", ["{not json", '{"meter_id": "m"}', '{"meter_id": "m", "kid": "zz", "seed": "00"}'])
def test_a_damaged_config_is_reported_and_restored_from_its_backup(micropython, damage):
    (micropython.workdir / "config.json").write_text(json.dumps(CONFIG))
    out = micropython.run("""
from meter import config
s = config.recover()
print("first", s.meter_id)
open("config.json", "w").write(DAMAGE)
s = config.recover()
print("second", s.meter_id)
print("restored", open("config.json").read() == open("config.bak").read())
open("config.bak", "w").write("{}")
open("config.json", "w").write("[]")
print("neither", config.recover())
""".replace("DAMAGE", repr(damage)), heapsize="128K").stdout
    assert "first m" in out and "second m" in out and "restored True" in out
    assert "config: restored config.json from config.bak" in out
    assert "neither None" in out
