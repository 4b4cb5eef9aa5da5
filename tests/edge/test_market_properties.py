"""Random sequences of cooperative operations — deposits, withdrawals, contributions, orders (now, in bulk,
scheduled), cancellations, prepaid purchases, readings and settlements — checked after every step: money and
energy are conserved, no member or cooperative balance is negative, escrow holds nothing between settlements,
every refused operation changed nothing, and the ledger verifies."""

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from edge.app import open_database
from edge.errors import ServiceError
from edge.ledger import balances
from edge.limits import INTERVAL_S
from edge.members import member_wallet
from edge.mobile_money import Callback, MobileMoneyCreate, handle_callback, request_deposit, request_withdrawal
from edge.orders import OrderCreate, cancel_order, list_orders, place_order, place_orders
from edge.prepaid import PurchaseCreate, buy_credit
from edge.settlement import settle_interval
from tests.edge.cooperative import GATEWAY_KEY, Cluster, assert_books_balance, interval

# Mostly valid values (so trades happen), with negative, zero and absurd ones mixed in (so refusals are tested).
amounts_wh = st.one_of(*[st.integers(1, 2_000)] * 4, st.sampled_from([-5, 0, 10**7]))
prices = st.one_of(*[st.integers(80, 200)] * 4, st.sampled_from([-1, 0, 10**6]))
money = st.one_of(*[st.integers(100, 200_000)] * 4, st.sampled_from([-100, 0, 99, 10**8]))


def snapshot(engine) -> dict:
    return {(a.owner, a.unit): (a.balance, a.debits_pending) for a in balances(engine)}


class CooperativeMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="market-prop-"))
        self.engine = open_database(self.folder / "gateway.db")
        self.cluster = Cluster(self.engine)
        self.offset = 0  # the open interval is interval(offset)
        self.members: list[int] = []
        self.meters: dict[int, str] = {}
        self.cluster.meter("solar", None, "producer")

    def teardown(self) -> None:
        self.engine.dispose()
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def now_s(self) -> int:
        return interval(self.offset).start_s + 100

    def refused_changes_nothing(self, operation) -> None:
        before = snapshot(self.engine)
        try:
            operation()
        except ServiceError:
            assert snapshot(self.engine) == before

    @initialize(prosumers=st.integers(1, 2))
    def founders(self, prosumers):
        for index in range(3):
            self.join(200_000 + 100_000 * index, index < prosumers)
        self.settle_usage({"solar": (0, 900), **{self.meters[m]: (200, 800) for m in self.members}})

    @rule(contribution=st.sampled_from([0, 200_000, 350_000, 500_000]), prosumer=st.booleans())
    @precondition(lambda self: len(self.members) < 6)
    def join(self, contribution, prosumer):
        member_id = self.cluster.member(deposit_ngwee=20_000, contributions=(contribution,) if contribution else ())
        self.members.append(member_id)
        self.meters[member_id] = self.cluster.meter(f"m{member_id}", member_id, "prosumer" if prosumer else "consumer")

    @rule(data=st.data(), amount=money, succeed=st.booleans(), withdraw=st.booleans())
    def mobile_money(self, data, amount, succeed, withdraw):
        member_id = data.draw(st.sampled_from(self.members))
        request = request_withdrawal if withdraw else request_deposit

        def operation():
            pending = request(self.engine, MobileMoneyCreate(member_id, amount), now_s=self.now_s)
            status = "succeeded" if succeed else "failed"
            handle_callback(self.engine, Callback(pending.reference, status), now_s=self.now_s)
            handle_callback(self.engine, Callback(pending.reference, status), now_s=self.now_s)  # repeated

        self.refused_changes_nothing(operation)

    @rule(data=st.data(), side=st.sampled_from(["buy", "sell"]), energy_wh=amounts_wh, limit=prices,
          intervals_count=st.integers(1, 3), scheduled=st.booleans(), max_cost=st.one_of(st.none(), money))
    def order(self, data, side, energy_wh, limit, intervals_count, scheduled, max_cost):
        member_id = data.draw(st.sampled_from(self.members))
        request = OrderCreate(member_id, side, energy_wh, limit, max_cost if side == "buy" else None,
                              intervals_count, self.now_s + INTERVAL_S if scheduled else None)
        self.refused_changes_nothing(lambda: place_order(self.engine, request, now_s=self.now_s))

    @rule(data=st.data(), offer_limit=st.integers(80, 140), spread=st.integers(0, 60), scheduled=st.booleans())
    def crossing_pair(self, data, offer_limit, spread, scheduled):
        """A sell offer of banked Wh and another member's bid that crosses it: trades happen every settlement."""
        holders = [m for m in self.members if member_wallet(self.engine, m).wh.available > 0]
        if not holders:
            return
        seller = data.draw(st.sampled_from(holders))
        buyer = data.draw(st.sampled_from([m for m in self.members if m != seller]))
        energy_wh = data.draw(st.integers(1, member_wallet(self.engine, seller).wh.available))
        self.refused_changes_nothing(lambda: place_order(
            self.engine, OrderCreate(seller, "sell", energy_wh, offer_limit), now_s=self.now_s))
        bid = OrderCreate(buyer, "buy", data.draw(st.integers(1, 2 * energy_wh)), offer_limit + spread,
                          execute_at_s=self.now_s + 10 if scheduled else None)
        self.refused_changes_nothing(lambda: place_order(self.engine, bid, now_s=self.now_s))

    @rule(data=st.data(), count=st.integers(1, 4))
    def bulk_orders(self, data, count):
        requests = [OrderCreate(data.draw(st.sampled_from(self.members)), data.draw(st.sampled_from(["buy", "sell"])),
                                data.draw(amounts_wh), data.draw(prices)) for _ in range(count)]
        place_orders(self.engine, requests, now_s=self.now_s)

    @rule(data=st.data())
    def cancel(self, data):
        active = [o for o in list_orders(self.engine, limit=1_000) if o.state in ("open", "scheduled")]
        if active:
            order = data.draw(st.sampled_from(active))
            cancel_order(self.engine, order.order_id, now_s=self.now_s)

    @rule(data=st.data(), energy_wh=amounts_wh, pay_from=st.sampled_from(["ngwee", "wh"]))
    def prepaid(self, data, energy_wh, pay_from):
        member_id = data.draw(st.sampled_from(self.members))
        request = PurchaseCreate(member_id, self.meters[member_id], energy_wh, pay_from)
        self.refused_changes_nothing(lambda: buy_credit(self.engine, GATEWAY_KEY, request, now_s=self.now_s))

    @rule(data=st.data(), solar_wh=st.integers(0, 3_000))
    def settle(self, data, solar_wh):
        usage = {"solar": (0, solar_wh)}
        for member_id in self.members:
            usage[self.meters[member_id]] = (data.draw(st.integers(0, 1_500)), data.draw(st.integers(0, 1_500)))
        self.settle_usage(usage)

    def settle_usage(self, usage: dict) -> None:
        at = interval(self.offset)
        self.cluster.interval_readings(at, usage)
        result = settle_interval(self.engine, at, GATEWAY_KEY, now_s=at.end_s + 1)
        event(f"settlement with trades: {result.trades_count > 0}")
        event(f"settlement ran scheduled orders: {result.scheduled_executed + result.scheduled_failed > 0}")
        before = snapshot(self.engine)
        again = settle_interval(self.engine, at, GATEWAY_KEY, now_s=at.end_s + 1)
        assert not again.settled_now and snapshot(self.engine) == before
        self.offset += 1

    @invariant()
    def books_balance(self):
        assert_books_balance(self.engine)


CooperativeMachine.TestCase.settings = settings(
    max_examples=30, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestCooperativeMachine = CooperativeMachine.TestCase
