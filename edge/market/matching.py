"""Matching the cluster market's buy bids and sell offers for one interval: a uniform-price double auction.

Contract
--------
In: a tuple of frozen `Order`s (limit price ngwee/kWh, quantity Wh, member, side, and a `sequence` that
gives time priority: lower was placed earlier), and optionally the interval's dynamic price.
Out: a frozen `MatchResult` — one clearing price for the interval, the trades (buyer, seller, Wh, price,
cost in ngwee) and, per order in input order, how much was filled, self-netted and left unfilled.

The rule, in the order it is applied:
1. Self-netting. A member's own bid and offer that cross (bid limit >= offer limit) cancel each other
   first, best against best: nobody trades with themselves, and keeping your own energy is what such a
   trade would have amounted to. The cancelled Wh are reported as `netted_wh`, not as trades.
2. Priority. Bids are ranked by limit price, highest first; offers by limit price, lowest first; equal
   prices by `sequence` (earlier first).
3. Matching. The best remaining bid takes from the best remaining offer while the bid's limit is at least
   the offer's limit; partial fills leave the rest of the order in place. After self-netting no member
   has a bid and an offer that cross, so no member's orders ever meet each other.
4. Clearing price. Every trade of the interval is at one price p, chosen in the range
   [max(last matched offer, best unfilled bid), min(last matched bid, best unfilled offer)]: every matched
   buyer's limit is >= p, every matched seller's <= p, and nobody left unfilled would trade at p (except
   at exactly the marginal price, where quantity ran out). Within that range p is the dynamic price if the
   range holds it, otherwise the range's nearest end; without a dynamic price it is the midpoint, rounded
   down (a half-ngwee midpoint goes to the buyers).
5. Cost. Each trade costs floor(Wh × p / 1000) ngwee: one integer, debited from the buyer and credited to
   the seller, so the two always agree; the buyer never pays above its limit, the seller gives up less than
   1 ngwee per trade.

Why one uniform price: everybody in the interval pays or receives the same price, which is fair and easy to
say on a USSD screen ("this interval: 1.18 ZMW/kWh"). An order that is not at the margin does not set the
price, so shading a bid below what the energy is worth to you only risks missing the trade without
lowering what you pay; with many members the margin rarely belongs to any one of them.

Raises AssertionError (via `invariant`) on a malformed book (duplicate ids or sequences, bounds of
`edge.market.limits`) and if a conservation rule fails. O(n log n) in the number of orders.

>>> result = match_orders((
...     Order("b1", "alice", Side.BUY, limit_price_ngwee_per_kwh=150, energy_wh=500, sequence=1),
...     Order("s1", "bob", Side.SELL, limit_price_ngwee_per_kwh=100, energy_wh=500, sequence=2),
... ), reference_price_ngwee_per_kwh=120)
>>> result.clearing_price_ngwee_per_kwh, [(t.buyer_member_id, t.seller_member_id, t.energy_wh, t.cost_ngwee)
...                                       for t in result.trades]
(120, [('alice', 'bob', 500, 60)])
"""

import enum
from collections import defaultdict
from dataclasses import dataclass

from enerlectra.invariant import invariant

from . import limits
from .distribution import Distribution

WH_PER_KWH = 1_000
CLUSTER_MEMBER_ID = "cluster"  # the default member id of the cluster's own (shared generation) offer


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"


@dataclass(frozen=True, slots=True)
class Order:
    """A bid (BUY: pay at most the limit) or an offer (SELL: receive at least the limit) for one interval."""

    order_id: str
    member_id: str
    side: Side
    limit_price_ngwee_per_kwh: int
    energy_wh: int
    sequence: int  # time priority; unique within the interval, lower = earlier

    def __post_init__(self) -> None:
        invariant(isinstance(self.order_id, str) and self.order_id != "", "order_id must be a non-empty str")
        invariant(isinstance(self.member_id, str) and self.member_id != "", "member_id must be a non-empty str")
        invariant(isinstance(self.side, Side), "side must be a Side")
        invariant(type(self.limit_price_ngwee_per_kwh) is int, "limit price must be an int")
        invariant(0 < self.limit_price_ngwee_per_kwh <= limits.price_ngwee_per_kwh_max, "limit price range")
        invariant(type(self.energy_wh) is int, "energy_wh must be an int")
        invariant(0 < self.energy_wh <= limits.energy_wh_per_interval_max, "energy_wh must be positive")
        invariant(type(self.sequence) is int, "sequence must be an int")
        invariant(self.sequence >= 0, "sequence must not be negative")


@dataclass(frozen=True, slots=True)
class Trade:
    """Energy from the seller to the buyer at the interval's clearing price; cost_ngwee moves the other way."""

    buy_order_id: str
    sell_order_id: str
    buyer_member_id: str
    seller_member_id: str
    energy_wh: int
    price_ngwee_per_kwh: int
    cost_ngwee: int  # floor(energy_wh × price / 1000): the buyer pays exactly what the seller receives


@dataclass(frozen=True, slots=True)
class OrderFill:
    """What became of one order: energy_wh = filled_wh + netted_wh + unfilled_wh."""

    order_id: str
    member_id: str
    side: Side
    energy_wh: int
    filled_wh: int  # traded with other members
    netted_wh: int  # cancelled against the same member's crossing order on the other side
    unfilled_wh: int  # left open at the end of the interval


@dataclass(frozen=True, slots=True)
class MatchResult:
    clearing_price_ngwee_per_kwh: int | None  # None when nothing traded
    trades: tuple[Trade, ...]
    fills: tuple[OrderFill, ...]  # one per order, in input order
    traded_wh: int
    traded_ngwee: int


def cost_ngwee(energy_wh: int, price_ngwee_per_kwh: int) -> int:
    """Cost of `energy_wh` at `price_ngwee_per_kwh`, rounded down to the ngwee.

    >>> cost_ngwee(1_234, 120)   # 148.08 ngwee
    148
    """
    invariant(energy_wh >= 0, "energy must not be negative")
    invariant(price_ngwee_per_kwh >= 0, "price must not be negative")
    return energy_wh * price_ngwee_per_kwh // WH_PER_KWH


def match_orders(orders: tuple[Order, ...], reference_price_ngwee_per_kwh: int | None = None) -> MatchResult:
    """Run the interval's auction (see the module docstring)."""
    _check_book(orders, reference_price_ngwee_per_kwh)
    netted_wh = _self_net(orders)
    open_wh = [order.energy_wh - netted for order, netted in zip(orders, netted_wh, strict=True)]
    bids = sorted(
        (index for index, order in enumerate(orders) if order.side is Side.BUY and open_wh[index] > 0),
        key=lambda index: (-orders[index].limit_price_ngwee_per_kwh, orders[index].sequence),
    )
    asks = sorted(
        (index for index, order in enumerate(orders) if order.side is Side.SELL and open_wh[index] > 0),
        key=lambda index: (orders[index].limit_price_ngwee_per_kwh, orders[index].sequence),
    )

    # Price-time priority walk: pairs (bid, ask, Wh) while the best bid reaches the best offer.
    pairs: list[tuple[int, int, int]] = []
    bid_position = ask_position = 0
    while bid_position < len(bids) and ask_position < len(asks):
        bid, ask = bids[bid_position], asks[ask_position]
        if orders[bid].limit_price_ngwee_per_kwh < orders[ask].limit_price_ngwee_per_kwh:
            break
        energy_wh = min(open_wh[bid], open_wh[ask])
        pairs.append((bid, ask, energy_wh))
        open_wh[bid] -= energy_wh
        open_wh[ask] -= energy_wh
        if open_wh[bid] == 0:
            bid_position += 1
        if open_wh[ask] == 0:
            ask_position += 1
    # The walk is bounded: every step exhausts at least one order.
    invariant(len(pairs) <= len(bids) + len(asks), "at most one pair per exhausted order")

    price = None
    if pairs:
        last_bid, last_ask, _ = pairs[-1]
        lower = orders[last_ask].limit_price_ngwee_per_kwh
        upper = orders[last_bid].limit_price_ngwee_per_kwh
        if bid_position < len(bids):
            lower = max(lower, orders[bids[bid_position]].limit_price_ngwee_per_kwh)
        if ask_position < len(asks):
            upper = min(upper, orders[asks[ask_position]].limit_price_ngwee_per_kwh)
        invariant(lower <= upper, "the clearing range is never empty")
        if reference_price_ngwee_per_kwh is None:
            price = (lower + upper) // 2  # midpoint, rounded down
        else:
            price = min(max(reference_price_ngwee_per_kwh, lower), upper)

    trades = tuple(_trade(orders[bid], orders[ask], energy_wh, price) for bid, ask, energy_wh in pairs)
    return _result(orders, netted_wh, open_wh, trades, price)


def _check_book(orders: tuple[Order, ...], reference_price_ngwee_per_kwh: int | None) -> None:
    invariant(isinstance(orders, tuple), "orders must be a tuple (a frozen snapshot)")
    invariant(len(orders) <= limits.orders_per_interval_max, "orders exceed orders_per_interval_max")
    invariant(len({order.order_id for order in orders}) == len(orders), "order_id must be unique")
    invariant(len({order.sequence for order in orders}) == len(orders), "sequence must be unique")
    if reference_price_ngwee_per_kwh is not None:
        invariant(0 < reference_price_ngwee_per_kwh <= limits.price_ngwee_per_kwh_max, "reference price out of range")


def _self_net(orders: tuple[Order, ...]) -> list[int]:
    """Per order, the Wh cancelled against the same member's crossing orders (best bid vs best offer)."""
    netted_wh = [0] * len(orders)
    sides_by_member: dict[str, list[list[int]]] = defaultdict(lambda: [[], []])
    for index, order in enumerate(orders):
        sides_by_member[order.member_id][0 if order.side is Side.BUY else 1].append(index)
    for bids, asks in sides_by_member.values():
        if not bids or not asks:
            continue
        bids.sort(key=lambda index: (-orders[index].limit_price_ngwee_per_kwh, orders[index].sequence))
        asks.sort(key=lambda index: (orders[index].limit_price_ngwee_per_kwh, orders[index].sequence))
        bid_position = ask_position = 0
        while bid_position < len(bids) and ask_position < len(asks):
            bid, ask = bids[bid_position], asks[ask_position]
            if orders[bid].limit_price_ngwee_per_kwh < orders[ask].limit_price_ngwee_per_kwh:
                break
            energy_wh = min(orders[bid].energy_wh - netted_wh[bid], orders[ask].energy_wh - netted_wh[ask])
            netted_wh[bid] += energy_wh
            netted_wh[ask] += energy_wh
            if netted_wh[bid] == orders[bid].energy_wh:
                bid_position += 1
            if netted_wh[ask] == orders[ask].energy_wh:
                ask_position += 1
    return netted_wh


def _trade(bid: Order, ask: Order, energy_wh: int, price: int | None) -> Trade:
    invariant(price is not None, "a trade has a clearing price")
    invariant(energy_wh > 0, "a trade moves energy")
    invariant(bid.member_id != ask.member_id, "a member never trades with itself")
    invariant(ask.limit_price_ngwee_per_kwh <= price, "the seller receives at least its limit")
    invariant(price <= bid.limit_price_ngwee_per_kwh, "the buyer pays at most its limit")
    return Trade(
        buy_order_id=bid.order_id,
        sell_order_id=ask.order_id,
        buyer_member_id=bid.member_id,
        seller_member_id=ask.member_id,
        energy_wh=energy_wh,
        price_ngwee_per_kwh=price,
        cost_ngwee=cost_ngwee(energy_wh, price),
    )


def _result(
    orders: tuple[Order, ...], netted_wh: list[int], open_wh: list[int], trades: tuple[Trade, ...], price: int | None
) -> MatchResult:
    filled_wh: dict[str, int] = defaultdict(int)
    for trade in trades:
        filled_wh[trade.buy_order_id] += trade.energy_wh
        filled_wh[trade.sell_order_id] += trade.energy_wh
    fills = []
    for order, netted, unfilled in zip(orders, netted_wh, open_wh, strict=True):
        fill = OrderFill(
            order_id=order.order_id,
            member_id=order.member_id,
            side=order.side,
            energy_wh=order.energy_wh,
            filled_wh=filled_wh[order.order_id],
            netted_wh=netted,
            unfilled_wh=unfilled,
        )
        invariant(fill.unfilled_wh >= 0, "an order is never over-filled")
        invariant(fill.filled_wh + fill.netted_wh + fill.unfilled_wh == fill.energy_wh, "order Wh conserved")
        fills.append(fill)
    traded_wh = sum(trade.energy_wh for trade in trades)
    bought_wh = sum(fill.filled_wh for fill in fills if fill.side is Side.BUY)
    sold_wh = sum(fill.filled_wh for fill in fills if fill.side is Side.SELL)
    invariant(bought_wh == traded_wh, "energy bought equals energy traded")
    invariant(sold_wh == traded_wh, "energy sold equals energy traded")
    return MatchResult(
        clearing_price_ngwee_per_kwh=price,
        trades=trades,
        fills=tuple(fills),
        traded_wh=traded_wh,
        traded_ngwee=sum(trade.cost_ngwee for trade in trades),
    )


def cluster_surplus_order(
    energy_wh: int,
    price_ngwee_per_kwh: int,
    sequence: int,
    cluster_member_id: str = CLUSTER_MEMBER_ID,
) -> Order:
    """The cluster's shared-generation surplus offered at the interval's dynamic price."""
    return Order(
        order_id=f"{cluster_member_id}:sell",
        member_id=cluster_member_id,
        side=Side.SELL,
        limit_price_ngwee_per_kwh=price_ngwee_per_kwh,
        energy_wh=energy_wh,
        sequence=sequence,
    )


def orders_from_distribution(
    distribution: Distribution,
    price_ngwee_per_kwh: int,
    sequence_start: int = 0,
    cluster_member_id: str = CLUSTER_MEMBER_ID,
) -> tuple[Order, ...]:
    """Standing orders at the dynamic price for members who placed none: a bid per deficit, an offer per
    member surplus, then the cluster surplus offer, in the distribution's member order (which therefore
    sets time priority: the caller chooses it). Order ids are `<member_id>:buy` / `<member_id>:sell`.
    """
    orders = []
    sequence = sequence_start
    for member in distribution.members:
        invariant(member.member_id != cluster_member_id, "a member must not use the cluster's member id")
        for side, energy_wh in ((Side.BUY, member.deficit_wh), (Side.SELL, member.surplus_wh)):
            if energy_wh == 0:
                continue
            order_id = f"{member.member_id}:{side.value}"
            orders.append(Order(order_id, member.member_id, side, price_ngwee_per_kwh, energy_wh, sequence))
            sequence += 1
    if distribution.cluster_surplus_wh > 0:
        orders.append(
            cluster_surplus_order(distribution.cluster_surplus_wh, price_ngwee_per_kwh, sequence, cluster_member_id)
        )
    return tuple(orders)
