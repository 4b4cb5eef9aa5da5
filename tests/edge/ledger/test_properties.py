"""Random sequences of ledger operations against a model: after every step money and energy are conserved, no
account without `may_go_negative` is below zero, the database agrees with the model, and `verify` passes."""

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from nacl.signing import SigningKey

from edge.db import create_schema, make_engine
from edge.ledger import (
    Transfer,
    TransferFlags,
    TransferResult,
    balances,
    open_account,
    post,
    post_pending_transfer,
    seal_interval,
    verify,
    void_pending_transfer,
)
from edge.ledger.limits import AMOUNT_MAX

R = TransferResult
F = TransferFlags
KEY = SigningKey(bytes(range(32)))
amounts = st.one_of(st.integers(-3, 3_000), st.integers(0, 10**9), st.just(AMOUNT_MAX), st.just(AMOUNT_MAX + 1))

DP, DPOST, CP, CPOST = range(4)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="ledger-prop-"))
        self.engine = make_engine(self.folder / "gateway.db")
        create_schema(self.engine)
        self.totals: dict[int, list[int]] = {}
        self.may_go_negative: dict[int, bool] = {}
        self.mobile_money = self._open("system:mobile_money", "ngwee", True)
        self.generation = self._open("system:generation", "wh", True)
        self.members: list[tuple[int, int]] = []
        self.pending: dict[str, tuple[int, int, int]] = {}  # key -> (debit, credit, amount), still unresolved
        self.resolved: dict[str, int] = {}  # pending key -> flag that resolved it
        self.history: list[Transfer] = []  # transfers that were posted (for retries)
        self.counter = 0
        self.interval = 0

    def teardown(self) -> None:
        self.engine.dispose()
        shutil.rmtree(self.folder, ignore_errors=True)

    # Helpers

    def _open(self, owner: str, unit: str, may_go_negative: bool = False) -> int:
        account_id = open_account(self.engine, owner, unit, may_go_negative=may_go_negative)
        self.totals[account_id] = [0, 0, 0, 0]
        self.may_go_negative[account_id] = may_go_negative
        return account_id

    def _key(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"

    def _available(self, account_id: int) -> int:
        t = self.totals[account_id]
        return t[CPOST] - t[DPOST] - t[DP]

    def _expect(self, debit: int, credit: int, amount: int) -> R:
        """The model's verdict for a plain transfer between existing accounts of the same unit."""
        if amount <= 0:
            return R.AMOUNT_MUST_BE_POSITIVE
        if amount > AMOUNT_MAX:
            return R.AMOUNT_TOO_LARGE
        if debit == credit:
            return R.ACCOUNTS_MUST_BE_DIFFERENT
        if not self.may_go_negative[debit] and self._available(debit) < amount:
            return R.INSUFFICIENT_FUNDS
        return R.OK

    def _move(self, debit: int, credit: int, amount: int, pending: bool = False) -> None:
        self.totals[debit][DP if pending else DPOST] += amount
        self.totals[credit][CP if pending else CPOST] += amount

    def _member(self, data, index_name: str) -> tuple[int, int]:
        return self.members[data.draw(st.integers(0, len(self.members) - 1), label=index_name)]

    def _transfer(self, prefix, debit, credit, amount, unit, flags=F.NONE) -> Transfer:
        return Transfer(self._key(prefix), debit, credit, amount, unit, f"i{self.interval}", prefix, flags)

    def _post_one(self, transfer: Transfer, expected: R) -> None:
        assert post(self.engine, [transfer]) == [expected]
        if expected is R.OK:
            self.history.append(transfer)

    # Rules

    @precondition(lambda self: len(self.members) < 5)
    @rule()
    def add_member(self) -> None:
        n = len(self.members)
        self.members.append((self._open(f"member:{n}", "ngwee"), self._open(f"member:{n}", "wh")))

    @precondition(lambda self: self.members)
    @rule(data=st.data(), amount=amounts)
    def top_up(self, data, amount) -> None:
        money, _ = self._member(data, "member")
        expected = self._expect(self.mobile_money, money, amount)
        self._post_one(self._transfer("topup", self.mobile_money, money, amount, "ngwee"), expected)
        if expected is R.OK:
            self._move(self.mobile_money, money, amount)

    @precondition(lambda self: self.members)
    @rule(data=st.data(), amount=amounts)
    def allocate(self, data, amount) -> None:
        _, energy = self._member(data, "member")
        expected = self._expect(self.generation, energy, amount)
        self._post_one(self._transfer("allocation", self.generation, energy, amount, "wh"), expected)
        if expected is R.OK:
            self._move(self.generation, energy, amount)

    @precondition(lambda self: self.members)
    @rule(data=st.data(), amount=amounts, energy=st.booleans())
    def pay(self, data, amount, energy) -> None:
        payer, payee = self._member(data, "payer"), self._member(data, "payee")
        debit, credit = (payer[1], payee[1]) if energy else (payer[0], payee[0])
        expected = self._expect(debit, credit, amount)
        self._post_one(self._transfer("pay", debit, credit, amount, "wh" if energy else "ngwee"), expected)
        if expected is R.OK:
            self._move(debit, credit, amount)

    @precondition(lambda self: len(self.members) >= 2)
    @rule(data=st.data(), wh=amounts, ngwee=amounts)
    def trade(self, data, wh, ngwee) -> None:
        """A linked pair: buyer pays seller, seller delivers energy. Both legs or neither."""
        buyer, seller = self._member(data, "buyer"), self._member(data, "seller")
        money_leg = self._transfer("trade", buyer[0], seller[0], ngwee, "ngwee", F.LINKED)
        energy_leg = self._transfer("trade", seller[1], buyer[1], wh, "wh")
        first = self._expect(buyer[0], seller[0], ngwee)
        second = self._expect(seller[1], buyer[1], wh)
        results = post(self.engine, [money_leg, energy_leg])
        if first is not R.OK:
            assert results == [first, R.LINKED_EVENT_FAILED]
        elif second is not R.OK:
            assert results == [R.LINKED_EVENT_FAILED, second]
        else:
            assert results == [R.OK, R.OK]
            self._move(buyer[0], seller[0], ngwee)
            self._move(seller[1], buyer[1], wh)
            self.history += [money_leg, energy_leg]

    @precondition(lambda self: len(self.members) >= 2)
    @rule(data=st.data(), amount=amounts)
    def reserve(self, data, amount) -> None:
        payer, payee = self._member(data, "payer"), self._member(data, "payee")
        transfer = self._transfer("reserve", payer[0], payee[0], amount, "ngwee", F.PENDING)
        expected = self._expect(payer[0], payee[0], amount)
        self._post_one(transfer, expected)
        if expected is R.OK:
            self._move(payer[0], payee[0], amount, pending=True)
            self.pending[transfer.key] = (payer[0], payee[0], amount)

    @precondition(lambda self: self.pending or self.resolved)
    @rule(data=st.data(), void=st.booleans(), fraction=st.integers(0, 4))
    def resolve(self, data, void, fraction) -> None:
        pending_key = data.draw(st.sampled_from(sorted([*self.pending, *self.resolved])), label="pending")
        key = self._key("resolve")
        interval_id = f"i{self.interval}"
        if pending_key in self.resolved:
            already = self.resolved[pending_key]
            transfer = (
                void_pending_transfer(key, pending_key, interval_id=interval_id)
                if void
                else post_pending_transfer(key, pending_key, interval_id=interval_id)
            )
            expected = (
                R.PENDING_TRANSFER_ALREADY_POSTED if already == F.POST_PENDING else (R.PENDING_TRANSFER_ALREADY_VOIDED)
            )
            assert post(self.engine, [transfer]) == [expected]
            return
        debit, credit, amount = self.pending.pop(pending_key)
        self._move(debit, credit, -amount, pending=True)
        if void:
            transfer = void_pending_transfer(key, pending_key, interval_id=interval_id)
            self.resolved[pending_key] = F.VOID_PENDING
        else:
            posted = amount * fraction // 4  # 0 means "all of it"
            transfer = post_pending_transfer(key, pending_key, interval_id=interval_id, amount=posted)
            self._move(debit, credit, posted or amount)
            self.resolved[pending_key] = F.POST_PENDING
        self._post_one(transfer, R.OK)

    @precondition(lambda self: self.history)
    @rule(data=st.data(), change=st.booleans())
    def retry(self, data, change) -> None:
        """A retry is `exists` and changes nothing; a retry with another amount is refused."""
        transfer = data.draw(st.sampled_from(self.history), label="retry")
        if change and transfer.amount > 0:
            changed = replace(
                transfer, amount=transfer.amount - 1 if transfer.amount > 1 else 2, flags=transfer.flags & ~F.LINKED
            )
            assert post(self.engine, [changed]) == [R.EXISTS_WITH_DIFFERENT_AMOUNT]
        else:
            assert post(self.engine, [transfer]) in ([R.EXISTS], [R.LINKED_EVENT_CHAIN_OPEN])

    @rule()
    def seal(self) -> None:
        seal_interval(self.engine, f"i{self.interval}", KEY)
        self.interval += 1

    # Invariants, checked after every step

    @invariant()
    def database_matches_model(self) -> None:
        rows = balances(self.engine)
        assert {
            row.account_id: [row.debits_pending, row.debits_posted, row.credits_pending, row.credits_posted]
            for row in rows
        } == self.totals

    @invariant()
    def money_and_energy_are_conserved(self) -> None:
        rows = balances(self.engine)
        for unit in ("ngwee", "wh"):
            assert sum(row.balance for row in rows if row.unit == unit) == 0
            assert sum(row.credits_pending - row.debits_pending for row in rows if row.unit == unit) == 0

    @invariant()
    def no_forbidden_negative(self) -> None:
        assert all(row.may_go_negative or row.available >= 0 for row in balances(self.engine))

    @invariant()
    def chain_verifies(self) -> None:
        report = verify(self.engine, KEY.verify_key)
        assert report.ok, report.line()


LedgerMachine.TestCase.settings = settings(
    max_examples=25, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestLedgerProperties = LedgerMachine.TestCase
