"""Helpers for the cooperative tests: a gateway database with members, linked meters, readings and money.

Readings go in the way the ingest writer stores them (`edge.readings.store_batch`), so settlement reads real
stored readings; money comes in through the mobile-money flow (request, then the operator's callback).
"""

import hashlib
from dataclasses import dataclass, field

from nacl.signing import SigningKey
from sqlalchemy.engine import Engine

from edge.intervals import Interval, parse_interval_id
from edge.ledger import balances, verify
from edge.members import ContributionCreate, MemberCreate, MeterLinkCreate, add_member, contribute, link_meter
from edge.meters import MeterCreate, register_meter
from edge.mobile_money import Callback, MobileMoneyCreate, handle_callback, request_deposit
from edge.readings import AcceptedMessage, store_batch
from enerlectra.senml import Reading

GATEWAY_KEY = SigningKey(bytes(range(32)))
START = parse_interval_id("2026-11-21T10:00Z/15m")  # noon in Lusaka
PUBLIC_KEY = bytes(SigningKey(b"\x01" * 32).verify_key).hex()


def interval(offset: int) -> Interval:
    return Interval(START.index + offset)


@dataclass
class Cluster:
    engine: Engine
    seqs: dict = field(default_factory=dict)
    counters: dict = field(default_factory=dict)
    phones: int = 0

    def member(self, *, deposit_ngwee: int = 0, contributions: tuple[int, ...] = (), name: str = "") -> int:
        self.phones += 1
        member = add_member(self.engine, MemberCreate(f"+26097{self.phones:07d}", name))
        total = deposit_ngwee + sum(contributions)
        while total > 0:  # deposits are at most 10,000 ZMW each
            amount = min(total, 1_000_000)
            self.deposit(member.member_id, amount)
            total -= amount
        for amount in contributions:
            contribute(self.engine, member.member_id, ContributionCreate(amount))
        return member.member_id

    def deposit(self, member_id: int, amount_ngwee: int) -> None:
        pending = request_deposit(self.engine, MobileMoneyCreate(member_id, amount_ngwee))
        handle_callback(self.engine, Callback(pending.reference, "succeeded"))

    def meter(self, meter_id: str, member_id: int | None, role: str) -> str:
        kid = hashlib.sha256(meter_id.encode()).hexdigest()[:16]
        register_meter(self.engine, MeterCreate(meter_id, kid, PUBLIC_KEY, "+260971234567"))
        link_meter(self.engine, MeterLinkCreate(meter_id, role, member_id))
        self.counters[meter_id] = (0, 0)
        self.read(meter_id, START.start_s - 60)  # a baseline before the first interval: all of it counts
        return meter_id

    def read(self, meter_id: str, time_s: int, imported_wh: int = 0, exported_wh: int = 0) -> None:
        """A reading at `time_s` after the meter imported/exported this much more since its last reading."""
        energy_in, energy_out = self.counters[meter_id]
        energy_in, energy_out = energy_in + imported_wh, energy_out + exported_wh
        self.counters[meter_id] = (energy_in, energy_out)
        seq = self.seqs.get(meter_id, 0) + 1
        self.seqs[meter_id] = seq
        reading = Reading(time_s, seq, energy_in, energy_out, 0, 0)
        raw = f"{meter_id}:{seq}".encode()
        store_batch(self.engine, [AcceptedMessage(meter_id, raw, hashlib.sha256(raw).hexdigest(), [reading], 0)])

    def interval_readings(self, at: Interval, usage: dict[str, tuple[int, int]]) -> None:
        """One reading per meter in the middle of `at` and one at its end, splitting the usage between them."""
        for meter_id, (imported_wh, exported_wh) in usage.items():
            self.read(meter_id, at.start_s + 450, imported_wh // 2, exported_wh // 2)
            self.read(meter_id, at.end_s, imported_wh - imported_wh // 2, exported_wh - exported_wh // 2)


def assert_books_balance(engine: Engine) -> None:
    """Money and energy are conserved, no member or cooperative account is negative, and the journal verifies."""
    sums: dict[str, int] = {}
    for account in balances(engine):
        sums[account.unit] = sums.get(account.unit, 0) + account.balance
        if not account.may_go_negative:
            assert account.available >= 0, account
            assert account.balance >= 0, account
        if account.owner == "market:escrow":
            assert account.balance == 0, account
    assert all(total == 0 for total in sums.values()), sums
    report = verify(engine, GATEWAY_KEY.verify_key)
    assert report.ok, report.line()
