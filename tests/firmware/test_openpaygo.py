"""The meter's OpenPAYGO Token decoder (firmware/meter/openpaygo.py) against the reference library (openpaygo on
PyPI), which is what the cooperative's issuer uses (edge/prepaid.py) to generate tokens.

Each test runs one MicroPython process over a whole sequence of token entries, the meter keeping its counters as
the firmware does (meter/tokens.py), and compares every answer with the library's decode_token on the same state.
"""

import json
import random

import pytest
from openpaygo import OpenPAYGOTokenDecoder, TokenType, decode_token, generate_token

KEY_HEX = "a29ab82edc5fbbc41ec9530f6dac86b1"

METER = """
import json
from binascii import unhexlify
from meter import openpaygo
key = unhexlify({key!r})
last_count, used = 0, []
for token in json.loads({tokens!r}):
    try:
        value, kind, count, new_used = openpaygo.decode(token, key, last_count, used)
    except ValueError as err:
        print(json.dumps(["error", str(err)]))
        continue
    if value is not None:
        last_count, used = max(last_count, count), new_used
    print(json.dumps([value, kind, count, new_used]))
"""


def reference(tokens: list[str], key_hex: str = KEY_HEX) -> list:
    """What the library answers for each token entered in turn, with the meter's bookkeeping."""
    last_count, used, answers = 0, [], []
    for token in tokens:
        value, kind, count, new_used = decode_token(token=token, secret_key=key_hex, count=last_count,
                                                    used_counts=list(used))
        if value is not None:
            value = int(value)
            if new_used is None:
                # The library forgets used counts when given none; the meter's decoder does not (documented).
                new_used = OpenPAYGOTokenDecoder.update_used_counts(used or [count], value, count, kind)
            last_count, used = max(last_count, count), new_used
        answers.append([value, kind, count, new_used])
    return answers


def meter(micropython, tokens: list[str], key_hex: str = KEY_HEX) -> list:
    output = micropython.run(METER.format(key=key_hex, tokens=json.dumps(tokens)), heapsize="128K").stdout
    return [json.loads(line) for line in output.splitlines()]


class Issuer:
    """The cooperative's side: one counter per meter, tokens from the library."""

    def __init__(self, key_hex: str = KEY_HEX):
        self.key_hex = key_hex
        self.count = 0

    def token(self, value: int | None = None, kind: int = TokenType.ADD_TIME) -> str:
        self.count, token = generate_token(secret_key=self.key_hex, count=self.count, value=value, token_type=kind)
        return token


def test_tokens_in_order_out_of_order_replayed_and_wrong_decode_as_the_library_does(micropython):
    issuer = Issuer()
    add = [issuer.token(value) for value in (5, 20, 995, 0)]
    late_a, late_b = issuer.token(7), issuer.token(8)
    tokens = [
        add[0], add[1], add[2], add[3],  # in order
        add[1],  # replayed: already used
        late_b, late_a,  # out of order: the older one still counts, once
        late_a, late_b,  # replays
        "123456789", "000000000", "1", "999999999",  # wrong
        issuer.token(42, TokenType.SET_TIME),
        late_a,
        issuer.token(kind=TokenType.COUNTER_SYNC),
        issuer.token(kind=TokenType.DISABLE_PAYG),
        issuer.token(3),
    ]
    answers = meter(micropython, tokens)
    assert answers == reference(tokens)
    assert [answer[0] for answer in answers[:4]] == [5, 20, 995, 0]
    assert answers[4][:2] == [None, TokenType.ALREADY_USED]
    assert [answer[0] for answer in answers[5:9]] == [8, 7, None, None]
    assert all(answer[:2] == [None, TokenType.INVALID] for answer in answers[9:13])
    assert answers[13][:2] == [42, TokenType.SET_TIME]
    assert answers[15][1] == TokenType.COUNTER_SYNC
    assert answers[16][1] == TokenType.DISABLE_PAYG


def test_a_token_too_far_ahead_is_invalid_until_the_counter_catches_up(micropython):
    issuer = Issuer()
    skipped = [issuer.token(1) for _ in range(40)]  # 40 ADD tokens: count 80, beyond last_count + 64
    far = issuer.token(9)
    tokens = [far, skipped[10], far]
    answers = meter(micropython, tokens)
    assert answers == reference(tokens)
    assert answers[0][:2] == [None, TokenType.INVALID]
    assert answers[2][0] == 9  # skipped[10] moved the counter to 22: 82 is now within reach


def test_tokens_for_another_meter_are_invalid(micropython):
    other = Issuer("00112233445566778899aabbccddeeff")
    tokens = [other.token(5), other.token(6)]
    answers = meter(micropython, tokens)
    assert answers == reference(tokens) == [[None, TokenType.INVALID, None, None]] * 2


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_issue_and_entry_orders_match_the_library(micropython, seed):
    rng = random.Random(seed)
    issuer = Issuer(bytes(rng.randrange(256) for _ in range(16)).hex())
    issued: list[str] = []
    entered: list[str] = []
    for _ in range(40):
        roll = rng.random()
        if roll < 0.45 or not issued:
            kind = rng.choice([TokenType.ADD_TIME] * 6 + [TokenType.SET_TIME, TokenType.COUNTER_SYNC])
            issued.append(issuer.token(rng.randrange(996) if kind != TokenType.COUNTER_SYNC else None, kind))
        if roll < 0.3:
            entered.append(issued[-1])
        elif roll < 0.7:
            entered.append(rng.choice(issued[-20:]))  # late, or a replay
        elif roll < 0.85:
            entered.append(f"{rng.randrange(10**9):09d}")  # a guess
        else:
            entered.append(issued[-1])
    answers = meter(micropython, entered, issuer.key_hex)
    assert answers == reference(entered, issuer.key_hex)
    assert any(answer[0] is not None for answer in answers)


def test_malformed_entries_raise_value_error(micropython):
    answers = meter(micropython, ["", "12345678901", "12a456789"])
    assert [answer[0] for answer in answers] == ["error"] * 3
