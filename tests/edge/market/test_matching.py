"""Uniform-price double auction: worked examples, self-netting, priority, and market properties."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.market import (
    CLUSTER_MEMBER_ID,
    DistributionInput,
    MemberInterval,
    Order,
    Side,
    cluster_surplus_order,
    cost_ngwee,
    distribute,
    match_orders,
    orders_from_distribution,
)

BUY, SELL = Side.BUY, Side.SELL


def order(order_id, member_id, side, price, energy_wh, sequence):
    return Order(order_id, member_id, side, limit_price_ngwee_per_kwh=price, energy_wh=energy_wh, sequence=sequence)


def fills(result):
    return {fill.order_id: (fill.filled_wh, fill.netted_wh, fill.unfilled_wh) for fill in result.fills}


def test_worked_example():
    # Bids by price: A 300 Wh @150, B 200 @130, C 100 @100. Offers: X 250 @90, Y 200 @120, Z 300 @140.
    # Walk: A takes X's 250, then 50 of Y; B takes Y's other 150; B (50 left, 130) does not reach Z (140).
    # Range: lower = max(last offer Y 120, best unfilled bid B 130) = 130, upper = min(last bid B 130, Z 140)
    # = 130, so everybody trades at 130. Costs, rounded down: 250×130/1000 = 32.5 → 32; 50 → 6.5 → 6;
    # 150 → 19.5 → 19.
    result = match_orders(
        (
            order("A", "alice", BUY, 150, 300, 1),
            order("B", "bwalya", BUY, 130, 200, 2),
            order("C", "chanda", BUY, 100, 100, 3),
            order("X", "xavier", SELL, 90, 250, 4),
            order("Y", "yande", SELL, 120, 200, 5),
            order("Z", "zola", SELL, 140, 300, 6),
        )
    )
    assert result.clearing_price_ngwee_per_kwh == 130
    assert [(t.buy_order_id, t.sell_order_id, t.energy_wh, t.cost_ngwee) for t in result.trades] == [
        ("A", "X", 250, 32),
        ("A", "Y", 50, 6),
        ("B", "Y", 150, 19),
    ]
    assert fills(result) == {
        "A": (300, 0, 0),
        "B": (150, 0, 50),
        "C": (0, 0, 100),
        "X": (250, 0, 0),
        "Y": (200, 0, 0),
        "Z": (0, 0, 300),
    }
    assert (result.traded_wh, result.traded_ngwee) == (450, 57)


@pytest.mark.parametrize(
    ("reference", "expected"),
    [(120, 120), (200, 150), (50, 100), (None, 125)],
    ids=["inside the range", "above: the bid's limit", "below: the offer's limit", "no reference: midpoint"],
)
def test_price_within_the_range_follows_the_dynamic_price(reference, expected):
    # One bid 500 @150 against one offer 500 @100: any price in [100, 150] clears the market.
    book = (order("b", "alice", BUY, 150, 500, 1), order("s", "bob", SELL, 100, 500, 2))
    assert match_orders(book, reference_price_ngwee_per_kwh=reference).clearing_price_ngwee_per_kwh == expected


def test_midpoint_rounds_down():
    book = (order("b", "alice", BUY, 151, 500, 1), order("s", "bob", SELL, 100, 500, 2))
    assert match_orders(book).clearing_price_ngwee_per_kwh == 125  # 125.5


def test_excess_demand_lifts_the_price_to_the_marginal_bid_and_excess_supply_lowers_it():
    short = (order("b", "alice", BUY, 150, 500, 1), order("s", "bob", SELL, 100, 300, 2))
    long = (order("b", "alice", BUY, 150, 300, 1), order("s", "bob", SELL, 100, 500, 2))
    assert match_orders(short, 120).clearing_price_ngwee_per_kwh == 150
    assert match_orders(long, 120).clearing_price_ngwee_per_kwh == 100


def test_time_priority_breaks_price_ties():
    # Two offers at 100: sequence 1 (placed first) fills completely before sequence 2.
    result = match_orders(
        (
            order("late", "bob", SELL, 100, 300, 2),
            order("early", "chanda", SELL, 100, 300, 1),
            order("b", "alice", BUY, 100, 400, 3),
        )
    )
    assert fills(result)["early"] == (300, 0, 0)
    assert fills(result)["late"] == (100, 0, 200)


def test_a_members_crossing_orders_net_instead_of_trading():
    # M bids 100 @150 and offers 100 @100: they cross, so they cancel. N's bid finds no offer.
    result = match_orders(
        (order("mb", "M", BUY, 150, 100, 1), order("ms", "M", SELL, 100, 100, 2), order("nb", "N", BUY, 120, 100, 3))
    )
    assert result.trades == ()
    assert result.clearing_price_ngwee_per_kwh is None
    assert fills(result) == {"mb": (0, 100, 0), "ms": (0, 100, 0), "nb": (0, 0, 100)}


def test_own_orders_that_do_not_cross_stay_in_the_book():
    # M bids 100 @100 and offers 100 @150 (no cross). O buys N's offer; M's bid and offer meet nobody.
    # Range: lower = max(N 90, best unfilled bid M 100) = 100, upper = min(O 160, best unfilled offer M 150)
    # = 150; midpoint 125.
    result = match_orders(
        (
            order("mb", "M", BUY, 100, 100, 1),
            order("ms", "M", SELL, 150, 100, 2),
            order("ns", "N", SELL, 90, 100, 3),
            order("ob", "O", BUY, 160, 100, 4),
        )
    )
    assert [(t.buyer_member_id, t.seller_member_id, t.price_ngwee_per_kwh) for t in result.trades] == [("O", "N", 125)]


def test_partial_netting_leaves_the_rest_to_trade():
    # M bids 300 @150 and offers 100 @100: 100 nets, 200 of the bid remains and buys from N.
    result = match_orders(
        (order("mb", "M", BUY, 150, 300, 1), order("ms", "M", SELL, 100, 100, 2), order("ns", "N", SELL, 110, 500, 3))
    )
    assert fills(result)["mb"] == (200, 100, 0)
    assert fills(result)["ms"] == (0, 100, 0)
    assert [(t.seller_member_id, t.energy_wh) for t in result.trades] == [("N", 200)]


@pytest.mark.parametrize(
    "book",
    [(), (order("b", "a", BUY, 100, 10, 1),), (order("s", "a", SELL, 100, 10, 1),)],
    ids=["empty", "only bids", "only offers"],
)
def test_one_sided_books_do_not_trade(book):
    result = match_orders(book, reference_price_ngwee_per_kwh=120)
    assert (result.trades, result.clearing_price_ngwee_per_kwh, result.traded_wh) == ((), None, 0)


def test_cost_rounds_down():
    assert cost_ngwee(1_234, 120) == 148  # 148.08
    assert cost_ngwee(999, 1) == 0  # 0.999
    assert cost_ngwee(1_000, 120) == 120


@pytest.mark.parametrize(
    "build",
    [
        lambda: match_orders((order("x", "a", BUY, 100, 10, 1), order("x", "b", SELL, 100, 10, 2))),
        lambda: match_orders((order("x", "a", BUY, 100, 10, 1), order("y", "b", SELL, 100, 10, 1))),
        lambda: match_orders([order("x", "a", BUY, 100, 10, 1)]),
        lambda: match_orders((), reference_price_ngwee_per_kwh=0),
        lambda: order("x", "a", BUY, 100, 0, 1),
        lambda: order("x", "a", BUY, 0, 10, 1),
        lambda: order("x", "a", "buy", 100, 10, 1),
        lambda: order("x", "a", BUY, 100, 10, -1),
    ],
    ids=[
        "duplicate order id",
        "duplicate sequence",
        "list not tuple",
        "zero reference",
        "zero energy",
        "zero price",
        "side as str",
        "negative sequence",
    ],
)
def test_malformed_books_are_programmer_errors(build):
    with pytest.raises(AssertionError):
        build()


def test_cluster_surplus_offer_and_standing_orders_from_a_distribution():
    # a (share 1) needs 400, b (share 1) needs 100, p sells 300 of its own; shared 300: b capped at 100,
    # a gets 200 and is 200 short; nothing left for the cluster.
    distribution = distribute(
        DistributionInput(
            members=(
                MemberInterval("a", share=1, consumption_wh=400),
                MemberInterval("b", share=1, consumption_wh=100),
                MemberInterval("p", share=0, consumption_wh=0, generation_wh=300),
            ),
            shared_generation_wh=300,
        )
    )
    orders = orders_from_distribution(distribution, price_ngwee_per_kwh=120, sequence_start=10)
    assert [(o.order_id, o.side, o.energy_wh, o.sequence) for o in orders] == [
        ("a:buy", BUY, 200, 10),
        ("p:sell", SELL, 300, 11),
    ]
    result = match_orders(orders, reference_price_ngwee_per_kwh=120)
    assert [(t.buyer_member_id, t.seller_member_id, t.energy_wh, t.cost_ngwee) for t in result.trades] == [
        ("a", "p", 200, 24)
    ]
    offer = cluster_surplus_order(700, 96, sequence=3)
    assert (offer.member_id, offer.side, offer.energy_wh, offer.limit_price_ngwee_per_kwh) == (
        CLUSTER_MEMBER_ID,
        SELL,
        700,
        96,
    )


# --- properties -------------------------------------------------------------------------------------------------


@st.composite
def books(draw):
    size = draw(st.integers(0, 30))
    sequences = draw(st.permutations(range(size)))
    return tuple(
        Order(
            order_id=f"o{index}",
            member_id=draw(st.sampled_from("abcdef")),  # few members: self-crossing is common
            side=draw(st.sampled_from(Side)),
            limit_price_ngwee_per_kwh=draw(st.integers(90, 150)),
            energy_wh=draw(st.integers(1, 1_000)),
            sequence=sequences[index],
        )
        for index in range(size)
    )


references = st.none() | st.integers(1, 300)


@settings(deadline=None)
@given(books(), references)
def test_every_trade_is_fair_and_balanced(book, reference):
    result = match_orders(book, reference_price_ngwee_per_kwh=reference)
    by_id = {o.order_id: o for o in book}
    for trade in result.trades:
        bid, ask = by_id[trade.buy_order_id], by_id[trade.sell_order_id]
        assert (bid.side, ask.side) == (BUY, SELL)
        assert trade.buyer_member_id == bid.member_id != ask.member_id == trade.seller_member_id
        assert ask.limit_price_ngwee_per_kwh <= trade.price_ngwee_per_kwh <= bid.limit_price_ngwee_per_kwh
        assert trade.price_ngwee_per_kwh == result.clearing_price_ngwee_per_kwh  # one price for all
        assert trade.cost_ngwee == trade.energy_wh * trade.price_ngwee_per_kwh // 1_000
        assert trade.cost_ngwee * 1_000 <= trade.energy_wh * bid.limit_price_ngwee_per_kwh
    assert result.traded_ngwee == sum(t.cost_ngwee for t in result.trades)


@settings(deadline=None)
@given(books(), references)
def test_no_order_is_over_filled_and_energy_is_conserved(book, reference):
    result = match_orders(book, reference_price_ngwee_per_kwh=reference)
    assert [f.order_id for f in result.fills] == [o.order_id for o in book]
    for fill, original in zip(result.fills, book, strict=True):
        assert min(fill.filled_wh, fill.netted_wh, fill.unfilled_wh) >= 0
        assert fill.filled_wh + fill.netted_wh + fill.unfilled_wh == original.energy_wh
    bought = sum(f.filled_wh for f in result.fills if f.side is BUY)
    sold = sum(f.filled_wh for f in result.fills if f.side is SELL)
    assert bought == sold == result.traded_wh == sum(t.energy_wh for t in result.trades)
    netted_buy = sum(f.netted_wh for f in result.fills if f.side is BUY)
    netted_sell = sum(f.netted_wh for f in result.fills if f.side is SELL)
    assert netted_buy == netted_sell


@settings(deadline=None)
@given(books(), references)
def test_what_is_left_does_not_cross_and_the_price_clears(book, reference):
    result = match_orders(book, reference_price_ngwee_per_kwh=reference)
    by_id = {o.order_id: o for o in book}
    open_bids = [by_id[f.order_id].limit_price_ngwee_per_kwh for f in result.fills if f.side is BUY and f.unfilled_wh]
    open_asks = [by_id[f.order_id].limit_price_ngwee_per_kwh for f in result.fills if f.side is SELL and f.unfilled_wh]
    if open_bids and open_asks:
        assert max(open_bids) < min(open_asks)  # any two members who could still trade, did
    price = result.clearing_price_ngwee_per_kwh
    if price is not None:
        assert all(limit <= price for limit in open_bids)  # nobody left short would pay the price
        assert all(limit >= price for limit in open_asks)  # nobody left long would accept it


@settings(deadline=None)
@given(books())
def test_volume_is_the_most_any_single_price_could_clear(book):
    result = match_orders(book)
    open_after_netting = {f.order_id: f.energy_wh - f.netted_wh for f in result.fills}
    best = 0
    for price in {o.limit_price_ngwee_per_kwh for o in book}:
        demand = sum(
            open_after_netting[o.order_id] for o in book if o.side is BUY and o.limit_price_ngwee_per_kwh >= price
        )
        supply = sum(
            open_after_netting[o.order_id] for o in book if o.side is SELL and o.limit_price_ngwee_per_kwh <= price
        )
        best = max(best, min(demand, supply))
    assert result.traded_wh == best


def test_two_thousand_orders():
    book = tuple(
        order(
            f"o{index}",
            f"m{index % 700}",
            BUY if index % 2 else SELL,
            80 + (index * 37) % 90,
            1 + (index * 53) % 900,
            index,
        )
        for index in range(2_000)
    )
    result = match_orders(book, reference_price_ngwee_per_kwh=120)
    assert result.traded_wh > 0
    assert all(t.buyer_member_id != t.seller_member_id for t in result.trades)
