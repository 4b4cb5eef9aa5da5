"""Settlement end to end, from readings stored the way the ingest writer stores them, to wallets and seals."""

import pytest
from sqlmodel import Session, select

from edge.app import open_database
from edge.errors import ConflictError
from edge.ledger import entries_for_interval, seals
from edge.members import member_wallet
from edge.orders import OrderCreate, cancel_order, get_order, place_order
from edge.settlement import (
    current_price,
    list_trades,
    member_carbon_report,
    member_statement,
    price_history,
    settle_due,
    settle_interval,
)
from edge.settlement.tables import SettlementMember
from tests.edge.cooperative import GATEWAY_KEY, Cluster, assert_books_balance, interval


@pytest.fixture
def cluster(tmp_path):
    engine = open_database(tmp_path / "gateway.db")
    yield Cluster(engine)
    engine.dispose()


def wallet(cluster, member_id):
    w = member_wallet(cluster.engine, member_id)
    return w.ngwee.balance, w.wh.balance


def settle(cluster, offset: int):
    return settle_interval(cluster.engine, interval(offset), GATEWAY_KEY, now_s=interval(offset).end_s + 60)


def journal_count(engine) -> int:
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT COUNT(*) FROM ledger_transfer").scalar_one()


def test_shared_solar_is_allocated_by_share_and_prosumer_export_is_banked(cluster):
    alice = cluster.member(contributions=(300_000,))  # 3,000 ZMW
    bob = cluster.member(contributions=(200_000, 200_000))  # two pooled purchases of 2,000 ZMW
    carol = cluster.member()  # no share: buys on the market
    dan = cluster.member(contributions=(500_000,))
    cluster.meter("solar", None, "producer")
    cluster.meter("m-alice", alice, "consumer")
    cluster.meter("m-bob", bob, "consumer")
    cluster.meter("m-carol", carol, "consumer")
    cluster.meter("m-dan", dan, "prosumer")
    cluster.interval_readings(interval(0), {
        "solar": (0, 1_000), "m-alice": (900, 0), "m-bob": (900, 0), "m-carol": (300, 0), "m-dan": (100, 400),
    })

    result = settle(cluster, 0)

    assert result.settled_now and result.seal_id == 1
    # Water-filling 1,000 Wh over shares 3,000 : 4,000 ZMW (dan needs nothing: his own panels cover him).
    assert wallet(cluster, alice) == (0, 429)
    assert wallet(cluster, bob) == (0, 571)
    assert wallet(cluster, carol) == (0, 0)
    assert wallet(cluster, dan) == (0, 300)  # 400 exported − 100 used himself, banked
    assert (result.allocated_wh, result.shared_generation_wh, result.cluster_surplus_wh) == (1_000, 1_000, 0)
    assert result.consumption_wh == 2_200
    kinds = sorted(entry.kind for entry in entries_for_interval(cluster.engine, interval(0).interval_id))
    assert kinds == ["allocation", "allocation", "export", "generation"]
    assert seals(cluster.engine)[-1].interval_id == interval(0).interval_id
    with Session(cluster.engine) as session:
        rows = {row.member_id: row for row in session.exec(select(SettlementMember))}
    assert (rows[dan].own_used_wh, rows[dan].surplus_wh, rows[carol].deficit_wh) == (100, 300, 300)
    assert member_statement(cluster.engine, alice)[0].allocation_wh == 429
    assert member_carbon_report(cluster.engine, alice).co2_grams_avoided == 429 * 800 // 1000
    assert_books_balance(cluster.engine)


def test_settling_again_changes_nothing(cluster):
    alice = cluster.member(contributions=(200_000,))
    cluster.meter("solar", None, "producer")
    cluster.meter("m-alice", alice, "consumer")
    cluster.interval_readings(interval(0), {"solar": (0, 500), "m-alice": (200, 0)})
    first = settle(cluster, 0)
    count = journal_count(cluster.engine)
    again = settle(cluster, 0)
    assert not again.settled_now
    assert journal_count(cluster.engine) == count
    assert (again.allocated_wh, again.transfers_count, again.seal_id) == (first.allocated_wh, first.transfers_count,
                                                                           first.seal_id)
    assert len(seals(cluster.engine)) == 1
    assert settle_due(cluster.engine, GATEWAY_KEY, now_s=interval(0).end_s + 60) == []


def test_surplus_offer_and_bid_trade_at_one_price_with_money_and_energy_moving_together(cluster):
    seller = cluster.member()
    buyer = cluster.member(deposit_ngwee=10_000)
    cluster.meter("m-seller", seller, "prosumer")
    cluster.meter("m-buyer", buyer, "consumer")
    cluster.interval_readings(interval(0), {"m-seller": (0, 2_000), "m-buyer": (0, 0)})
    settle(cluster, 0)
    assert wallet(cluster, seller) == (0, 2_000)

    now = interval(1).start_s + 10
    offer = place_order(cluster.engine, OrderCreate(seller, "sell", 1_500, 100), now_s=now)
    bid = place_order(cluster.engine, OrderCreate(buyer, "buy", 1_000, 150), now_s=now)
    assert (offer.reserved, bid.reserved) == (1_500, 150)
    assert member_wallet(cluster.engine, buyer).ngwee.available == 10_000 - 150
    cluster.interval_readings(interval(1), {"m-seller": (0, 0), "m-buyer": (0, 0)})
    result = settle(cluster, 1)

    price = result.clearing_price_ngwee_per_kwh
    assert 100 <= price <= 150
    cost = 1_000 * price // 1_000
    assert wallet(cluster, buyer) == (10_000 - cost, 1_000)
    assert wallet(cluster, seller) == (cost, 1_000)
    assert member_wallet(cluster.engine, buyer).ngwee.reserved == 0
    assert get_order(cluster.engine, bid.order_id).state == "filled"
    offer_now = get_order(cluster.engine, offer.order_id)
    assert (offer_now.state, offer_now.filled_wh, offer_now.amount_ngwee) == ("expired", 1_000, cost)
    assert member_wallet(cluster.engine, seller).wh.reserved == 0  # the unfilled 500 Wh were released
    [trade] = list_trades(cluster.engine, member_id=buyer)
    assert (trade.seller_member_id, trade.energy_wh, trade.cost_ngwee) == (seller, 1_000, cost)
    assert price_history(cluster.engine)[0].clearing_price_ngwee_per_kwh == price
    assert_books_balance(cluster.engine)


def test_cluster_surplus_is_sold_to_bidders_for_the_cooperative(cluster):
    owner = cluster.member(contributions=(200_000,))
    buyer = cluster.member(deposit_ngwee=5_000)
    cluster.meter("solar", None, "producer")
    cluster.meter("m-owner", owner, "consumer")
    cluster.meter("m-buyer", buyer, "consumer")
    place_order(cluster.engine, OrderCreate(buyer, "buy", 700, 200), now_s=interval(0).start_s)
    cluster.interval_readings(interval(0), {"solar": (0, 1_000), "m-owner": (200, 0), "m-buyer": (0, 0)})
    result = settle(cluster, 0)
    assert (result.cluster_surplus_wh, result.cluster_sold_wh) == (800, 700)
    price = result.clearing_price_ngwee_per_kwh
    assert price == result.dynamic_price_ngwee_per_kwh  # the cluster offers at the dynamic price
    assert wallet(cluster, buyer) == (5_000 - 700 * price // 1000, 700)
    [trade] = list_trades(cluster.engine)
    assert trade.seller_member_id is None and trade.sell_order_id is None
    assert_books_balance(cluster.engine)


def test_an_order_standing_several_intervals_re_reserves_its_rest_and_expires(cluster):
    seller = cluster.member()
    buyer = cluster.member(deposit_ngwee=10_000)
    cluster.meter("m-seller", seller, "prosumer")
    cluster.interval_readings(interval(0), {"m-seller": (0, 300)})
    settle(cluster, 0)
    bid = place_order(cluster.engine, OrderCreate(buyer, "buy", 1_000, 120, intervals_count=3),
                      now_s=interval(1).start_s)
    place_order(cluster.engine, OrderCreate(seller, "sell", 300, 100), now_s=interval(1).start_s)
    settle(cluster, 1)
    after_one = get_order(cluster.engine, bid.order_id)
    assert (after_one.state, after_one.filled_wh) == ("open", 300)
    assert after_one.reserved == -(-120 * 700 // 1000)  # the rest re-reserved at the limit
    assert member_wallet(cluster.engine, buyer).ngwee.reserved == after_one.reserved
    settle(cluster, 2)
    assert get_order(cluster.engine, bid.order_id).state == "open"  # untouched: nobody sold
    settle(cluster, 3)
    expired = get_order(cluster.engine, bid.order_id)
    assert (expired.state, expired.reserved) == ("expired", 0)
    assert member_wallet(cluster.engine, buyer).ngwee.reserved == 0
    assert_books_balance(cluster.engine)


def test_scheduled_trade_executes_in_its_interval_and_cancellation_releases_nothing_held(cluster):
    seller = cluster.member()
    buyer = cluster.member(deposit_ngwee=1_000)
    poor = cluster.member()
    cluster.meter("m-seller", seller, "prosumer")
    cluster.interval_readings(interval(0), {"m-seller": (0, 2_000)})
    settle(cluster, 0)
    now = interval(1).start_s
    place_order(cluster.engine, OrderCreate(seller, "sell", 2_000, 100, intervals_count=4), now_s=now)
    later = interval(3).start_s + 100
    scheduled = place_order(cluster.engine, OrderCreate(buyer, "buy", 500, 130, max_cost_ngwee=60,
                                                        execute_at_s=later), now_s=now)
    unfunded = place_order(cluster.engine, OrderCreate(poor, "buy", 500, 130, execute_at_s=later), now_s=now)
    dropped = place_order(cluster.engine, OrderCreate(buyer, "buy", 100, 130, execute_at_s=later), now_s=now)
    assert (scheduled.state, scheduled.reserved) == ("scheduled", 0)
    assert member_wallet(cluster.engine, buyer).ngwee.available == 1_000  # nothing reserved until it runs
    assert cancel_order(cluster.engine, dropped.order_id, now_s=now).state == "cancelled"
    with pytest.raises(ConflictError) as refused:
        cancel_order(cluster.engine, dropped.order_id, now_s=now)
    assert refused.value.code == "order_not_active"

    settle(cluster, 1)
    settle(cluster, 2)
    assert get_order(cluster.engine, scheduled.order_id).state == "scheduled"
    result = settle(cluster, 3)
    done = get_order(cluster.engine, scheduled.order_id)
    assert (result.scheduled_executed, result.scheduled_failed) == (1, 1)
    assert done.state in ("filled", "expired")
    assert done.amount_ngwee <= 60  # never above its maximum cost
    assert done.filled_wh == 60 * 1000 // 130  # as much as 0.60 ZMW buys at its limit
    failed = get_order(cluster.engine, unfunded.order_id)
    assert (failed.state, failed.failure_code) == ("failed", "insufficient_funds")
    assert_books_balance(cluster.engine)


def test_late_readings_count_in_the_next_interval_and_nothing_is_lost(cluster):
    alice = cluster.member(contributions=(200_000,))
    cluster.meter("solar", None, "producer")
    cluster.meter("m-alice", alice, "consumer")
    cluster.read("solar", interval(0).start_s + 400, exported_wh=5_000)
    cluster.read("m-alice", interval(0).start_s + 400, imported_wh=100)
    first = settle(cluster, 0)
    # A reading timed inside interval 0 arrives only after it was settled.
    cluster.read("m-alice", interval(0).start_s + 800, imported_wh=50)
    cluster.read("m-alice", interval(1).start_s + 400, imported_wh=30)
    second = settle(cluster, 1)
    assert (first.consumption_wh, second.consumption_wh) == (100, 80)


def test_settlement_refuses_an_interval_not_over_or_older_than_the_last(cluster):
    with pytest.raises(ConflictError) as early:
        settle_interval(cluster.engine, interval(5), GATEWAY_KEY, now_s=interval(5).end_s - 1)
    assert early.value.code == "interval_not_over"
    settle(cluster, 5)
    with pytest.raises(ConflictError) as older:
        settle(cluster, 4)
    assert older.value.code == "interval_before_last_settled"


def test_catch_up_settles_every_missed_interval_in_order_and_prices_build_a_history(cluster):
    alice = cluster.member(contributions=(200_000,))
    cluster.meter("m-alice", alice, "consumer")
    settle(cluster, 0)
    for offset in range(1, 5):
        cluster.interval_readings(interval(offset), {"m-alice": (100 * offset, 0)})
    results = settle_due(cluster.engine, GATEWAY_KEY, now_s=interval(4).end_s + 5)
    assert [r.interval_id for r in results] == [interval(n).interval_id for n in range(1, 5)]
    assert [r.consumption_wh for r in results] == [100, 200, 300, 400]
    current = current_price(cluster.engine)
    assert current.interval_id == interval(4).interval_id
    assert current.intervals_count == 5
    assert current.trend in ("rising", "falling", "stable")


def test_a_member_left_without_wallet_ids_by_a_crash_is_repaired_before_settling(cluster):
    alice = cluster.member(contributions=(200_000,))
    cluster.meter("solar", None, "producer")
    cluster.meter("m-alice", alice, "consumer")
    with cluster.engine.begin() as connection:  # as if killed between the member row and its accounts
        connection.exec_driver_sql("UPDATE member SET ngwee_account_id = NULL, wh_account_id = NULL")
    cluster.interval_readings(interval(0), {"solar": (0, 300), "m-alice": (200, 0)})
    assert settle(cluster, 0).allocated_wh == 200
    assert wallet(cluster, alice) == (0, 200)
