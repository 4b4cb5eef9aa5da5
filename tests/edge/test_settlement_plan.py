"""The pure settlement plan, by the worked example of docs/settlement.md: transfer by transfer."""

from types import MappingProxyType

from edge.intervals import parse_interval_id
from edge.market import DEFAULT_PRICING
from edge.settlement import plan_settlement
from edge.settlement.snapshot import IntervalSnapshot, MemberFigures, StandingOrder
from edge.wallets import SystemAccounts

ACCOUNTS = SystemAccounts(mobile_money=1, generation=2, meter_credit=3, cluster_energy=4, cluster_revenue=5,
                          cluster_equipment=6, escrow_ngwee=7, escrow_wh=8)
NOON = parse_interval_id("2026-11-21T10:00Z/15m")  # 12:00 in Lusaka: no time-of-day factor
# member id → (ngwee account, Wh account)
WALLETS = {1: (11, 12), 2: (21, 22), 3: (31, 32), 4: (41, 42)}


def member(member_id, share, used, made=0):
    return MemberFigures(member_id, *WALLETS[member_id], share, used, made)


def standing(order_id, member_id, side, energy_wh, limit, reserved, last_interval=NOON.index, state="open",
             max_cost=None):
    return StandingOrder(order_id, member_id, *WALLETS[member_id], side, energy_wh, limit, max_cost, state,
                         last_interval, 0, 0, reserved, 1 if state == "open" else 0)


def snapshot(orders=(), available=None):
    return IntervalSnapshot(
        interval=NOON,
        accounts=ACCOUNTS,
        members=(member(1, 300_000, 900), member(2, 400_000, 900), member(3, 0, 300), member(4, 500_000, 100, 400)),
        shared_generation_wh=1_000,
        capacity_wh=0,
        orders=tuple(orders),
        available=MappingProxyType(available or {}),
        advances=(),
        pricing=DEFAULT_PRICING,
    )


def rows(plan):
    return [(t.key.removeprefix(NOON.interval_id + ":"), t.debit_account_id, t.credit_account_id, t.amount, t.kind)
            for t in plan.transfers]


def test_the_worked_example():
    plan = plan_settlement(snapshot([
        standing(1, 4, "sell", 250, 100, reserved=250),  # Dan offers 250 Wh he banked earlier, at ≥ 1.00 ZMW/kWh
        standing(2, 3, "buy", 300, 150, reserved=45),  # Carol bids for 300 Wh at ≤ 1.50 ZMW/kWh: 45 ngwee held
    ]))
    # demand 471 + 329 + 300 = 1,100 Wh, supply 300 Wh: 120 × (1 + 0.3 × 800/1,400) = 140.57 → 141
    assert plan.figures.dynamic_price_ngwee_per_kwh == 141
    # Carol still wants 50 Wh at 1.50 after Dan's 250 are gone: the marginal bid sets the price, above 141.
    assert plan.figures.clearing_price_ngwee_per_kwh == 150
    assert rows(plan) == [
        ("generation", 2, 4, 1_000, "generation"),
        ("allocation:1", 4, 12, 429, "allocation"),
        ("allocation:2", 4, 22, 571, "allocation"),
        ("export:4", 2, 42, 300, "export"),
        ("order:1:post:1", 0, 0, 250, "order_fill"),  # Dan's 250 Wh leave his reservation for escrow
        ("order:2:post:1", 0, 0, 37, "order_fill"),  # Carol pays 37 of the 45 ngwee held; 8 are released
        ("trade:1:wh", 8, 32, 250, "trade"),  # escrow → Carol
        ("trade:1:ngwee", 7, 41, 37, "trade"),  # escrow → Dan: floor(250 × 150 / 1,000)
    ]
    assert [(u.order_id, u.state, u.filled_wh, u.amount_ngwee, u.reserved) for u in plan.order_updates] == [
        (1, "filled", 250, 37, 0), (2, "expired", 250, 37, 0)]
    carol = next(m for m in plan.members if m.member_id == 3)
    assert (carol.deficit_wh, carol.bought_wh, carol.paid_ngwee, carol.renewable_wh) == (300, 250, 37, 250)


def test_same_snapshot_same_plan():
    orders = [standing(1, 4, "sell", 250, 100, reserved=250), standing(2, 3, "buy", 300, 150, reserved=45)]
    assert plan_settlement(snapshot(orders)) == plan_settlement(snapshot(orders))


def test_due_scheduled_order_reserves_from_what_the_wallet_holds_or_fails():
    plan = plan_settlement(snapshot([
        standing(1, 4, "sell", 250, 100, reserved=0, state="scheduled"),  # Dan: 300 Wh arrive in this interval
        standing(2, 3, "buy", 300, 150, reserved=0, state="scheduled", max_cost=30),
        standing(3, 1, "buy", 100, 150, reserved=0, state="scheduled"),  # Alice holds no ngwee
    ], available={41: 0, 42: 0, 31: 1_000, 32: 0, 11: 0, 12: 0}))
    assert ("order:1:reserve:1", 42, 8, 250, "order_reserve") in rows(plan)
    assert ("order:2:reserve:1", 31, 7, 30, "order_reserve") in rows(plan)  # capped by its maximum cost
    updates = {u.order_id: u for u in plan.order_updates}
    assert (updates[3].state, updates[3].failure_code) == ("failed", "insufficient_funds")
    # 30 ngwee at ≤ 1.50 ZMW/kWh buys at most 200 Wh, and the bid never pays more than its maximum.
    assert updates[2].filled_wh == 200 and updates[2].amount_ngwee <= 30
    assert (plan.figures.scheduled_executed, plan.figures.scheduled_failed) == (2, 1)


def test_an_order_that_stands_on_re_reserves_and_an_untouched_one_is_left_alone():
    plan = plan_settlement(snapshot([
        standing(1, 4, "sell", 100, 100, reserved=100),
        standing(2, 3, "buy", 300, 150, reserved=45, last_interval=NOON.index + 4),
        standing(3, 2, "buy", 50, 50, reserved=3, last_interval=NOON.index + 4),  # bids below every offer
    ]))
    keys = [row[0] for row in rows(plan)]
    assert "order:2:reserve:2" in keys  # the rest of Carol's bid, reserved again
    assert not any(key.startswith("order:3:") for key in keys)
    update = {u.order_id: u for u in plan.order_updates}[2]
    assert (update.state, update.filled_wh, update.reserved, update.reservation_number) == ("open", 100, 30, 2)
