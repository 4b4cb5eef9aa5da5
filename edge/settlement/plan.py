"""The settlement of one interval as a pure function: frozen snapshot in, ledger transfers and records out.

`plan_settlement(snapshot) -> SettlementPlan` runs distribute → price → match (edge.market) and turns the
result into transfers whose keys derive from the interval id, in the order the ledger must apply them:

1. generation   system:generation → cluster:energy        the shared installation's metered export
2. allocation   cluster:energy → member Wh                 each member's share of it (capped at its need)
   export       system:generation → member Wh              a prosumer's export beyond its own use: banked
3. reserve      member → market:escrow (pending)           due scheduled orders reserve their maximum now
4. order_fill   post the order's reservation (pending)     for what it filled: the cost (bid) or the Wh (offer);
                                                           the rest is released
   order_void   void the reservation                       an order whose intervals are over, unfilled
   reserve      member → market:escrow (pending)           an order that still stands re-reserves its rest
5. trade        escrow Wh → buyer Wh  (linked with)        per trade; from cluster:energy for the cluster's offer
                escrow ngwee → seller ngwee                the cost; to cluster:revenue for the cluster's offer

Nothing here reads a clock or a database; the same snapshot always gives the same plan (so a settlement retried
after a rollback posts the same keys). Conservation is checked before anything is returned: every Wh taken into
escrow is paid out, and so is every ngwee; each member's order fills add up.
"""

from collections import defaultdict
from dataclasses import dataclass

from edge.ledger import Transfer, TransferFlags, post_pending_transfer, void_pending_transfer
from edge.market import (
    CLUSTER_MEMBER_ID,
    DistributionInput,
    MarketConditions,
    MemberInterval,
    Order,
    Side,
    distribute,
    dynamic_price,
    match_orders,
    renewable_consumption,
    utilisation_bp,
)
from edge.orders import OrderState, bid_matchable_wh, bid_reservation_ngwee, reservation_key
from edge.settlement.snapshot import IntervalSnapshot, MeterAdvance, StandingOrder
from edge.wallets import NGWEE, WH
from enerlectra.invariant import invariant


@dataclass(frozen=True, slots=True)
class MemberRecord:
    member_id: int
    consumption_wh: int = 0
    generation_wh: int = 0
    own_used_wh: int = 0
    allocation_wh: int = 0
    deficit_wh: int = 0
    surplus_wh: int = 0
    bought_wh: int = 0
    sold_wh: int = 0
    paid_ngwee: int = 0
    received_ngwee: int = 0
    renewable_wh: int = 0


@dataclass(frozen=True, slots=True)
class TradeRecord:
    trade_number: int
    buy_order_id: int
    sell_order_id: int | None  # None: the cluster's surplus offer
    buyer_member_id: int
    seller_member_id: int | None
    energy_wh: int
    price_ngwee_per_kwh: int
    cost_ngwee: int


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    order_id: int
    state: str
    filled_wh: int
    amount_ngwee: int
    reserved: int
    reservation_number: int
    failure_code: str | None = None


@dataclass(frozen=True, slots=True)
class SettlementFigures:
    dynamic_price_ngwee_per_kwh: int
    clearing_price_ngwee_per_kwh: int | None
    demand_wh: int
    supply_wh: int
    utilisation_bp: int
    consumption_wh: int
    shared_generation_wh: int
    prosumer_generation_wh: int
    allocated_wh: int
    cluster_surplus_wh: int
    cluster_sold_wh: int
    traded_wh: int
    traded_ngwee: int
    renewable_wh: int
    members_count: int
    orders_count: int
    trades_count: int
    scheduled_executed: int
    scheduled_failed: int


@dataclass(frozen=True, slots=True)
class SettlementPlan:
    interval_id: str
    interval_index: int
    transfers: tuple[Transfer, ...]
    figures: SettlementFigures
    members: tuple[MemberRecord, ...]
    trades: tuple[TradeRecord, ...]
    order_updates: tuple[OrderUpdate, ...]
    advances: tuple[MeterAdvance, ...]


@dataclass(slots=True)
class _Working:
    """An order during planning: its reservation as it stands once due scheduled orders have reserved."""

    order: StandingOrder
    reserved: int
    number: int
    executed_now: bool  # a scheduled order that reserves in this interval


def plan_settlement(snapshot: IntervalSnapshot) -> SettlementPlan:
    interval_id = snapshot.interval.interval_id
    accounts = snapshot.accounts
    transfers: list[Transfer] = []

    # 1–2. Distribution of the metered energy.
    members = snapshot.members
    distribution = distribute(DistributionInput(
        members=tuple(MemberInterval(str(m.member_id), m.share_ngwee, m.consumption_wh, m.generation_wh)
                      for m in members),
        shared_generation_wh=snapshot.shared_generation_wh,
    ))
    if snapshot.shared_generation_wh:
        transfers.append(Transfer(f"{interval_id}:generation", accounts.generation, accounts.cluster_energy,
                                  snapshot.shared_generation_wh, WH, interval_id, "generation"))
    credited_wh: dict[int, int] = {}
    for member, allocation in zip(members, distribution.members, strict=True):
        if allocation.allocation_wh:
            transfers.append(Transfer(f"{interval_id}:allocation:{member.member_id}", accounts.cluster_energy,
                                      member.wh_account, allocation.allocation_wh, WH, interval_id, "allocation"))
        if allocation.surplus_wh:
            transfers.append(Transfer(f"{interval_id}:export:{member.member_id}", accounts.generation,
                                      member.wh_account, allocation.surplus_wh, WH, interval_id, "export"))
        credited_wh[member.wh_account] = allocation.allocation_wh + allocation.surplus_wh

    # Price from the physical balance of the interval (docs/market.md): deficits against surpluses.
    pricing = snapshot.pricing
    utilisation = (utilisation_bp(snapshot.shared_generation_wh, snapshot.capacity_wh) if snapshot.capacity_wh
                   else pricing.utilisation_target_bp)  # capacity unknown: neutral
    conditions = MarketConditions(
        minute_of_day=snapshot.interval.minute_of_day_local,
        demand_wh=distribution.deficit_wh,
        supply_wh=distribution.member_surplus_wh + distribution.cluster_surplus_wh,
        utilisation_bp=utilisation,
    )
    price = dynamic_price(conditions, pricing)

    # 3. Due scheduled orders reserve now, from what their wallets hold (this interval's credits included).
    spendable = dict(snapshot.available)
    working: list[_Working] = []
    updates: dict[int, OrderUpdate] = {}
    executed = failed = 0
    for order in snapshot.orders:
        if order.state != OrderState.SCHEDULED:
            working.append(_Working(order, order.reserved, order.reservation_number, False))
            continue
        is_bid = order.side == Side.BUY
        amount = (bid_reservation_ngwee(order.limit_price_ngwee_per_kwh, order.energy_wh, order.max_cost_ngwee)
                  if is_bid else order.energy_wh)
        account = order.ngwee_account if is_bid else order.wh_account
        if account not in spendable:
            spendable[account] = 0
        funds = spendable[account] + (0 if is_bid else credited_wh.pop(account, 0))
        if funds < amount:
            spendable[account] = funds
            updates[order.order_id] = OrderUpdate(order.order_id, OrderState.FAILED.value, 0, 0, 0, 0,
                                                  "insufficient_funds")
            failed += 1
            continue
        spendable[account] = funds - amount
        transfers.append(_reserve(order, 1, amount, accounts, interval_id))
        working.append(_Working(order, amount, 1, True))
        executed += 1

    # The auction: every standing order (as much as its reservation covers) and the cluster's surplus.
    book = []
    for item in working:
        order = item.order
        remaining_wh = order.energy_wh - order.filled_wh
        matchable_wh = (bid_matchable_wh(order.limit_price_ngwee_per_kwh, remaining_wh, item.reserved)
                        if order.side == Side.BUY else min(remaining_wh, item.reserved))
        if matchable_wh > 0:
            book.append(Order(str(order.order_id), str(order.member_id), Side(order.side),
                              order.limit_price_ngwee_per_kwh, matchable_wh, order.order_id))
    if distribution.cluster_surplus_wh:
        last_sequence = snapshot.orders[-1].order_id if snapshot.orders else 0
        book.append(Order(CLUSTER_MEMBER_ID, CLUSTER_MEMBER_ID, Side.SELL, price, distribution.cluster_surplus_wh,
                          last_sequence + 1))
    result = match_orders(tuple(book), reference_price_ngwee_per_kwh=price)

    filled_wh: dict[str, int] = defaultdict(int)
    money_ngwee: dict[str, int] = defaultdict(int)
    for trade in result.trades:
        filled_wh[trade.buy_order_id] += trade.energy_wh
        filled_wh[trade.sell_order_id] += trade.energy_wh
        money_ngwee[trade.buy_order_id] += trade.cost_ngwee
        money_ngwee[trade.sell_order_id] += trade.cost_ngwee

    # 4. Resolve reservations: post what was filled, void what expires unfilled, re-reserve what still stands.
    for item in working:
        update, resolution = _resolve(item, filled_wh[str(item.order.order_id)],
                                      money_ngwee[str(item.order.order_id)], snapshot, interval_id)
        transfers.extend(resolution)
        if update is not None:
            updates[item.order.order_id] = update

    # 5. Pay out each trade from escrow (or from the cluster for its own surplus).
    by_order = {str(item.order.order_id): item.order for item in working}
    trades = []
    escrow_in_ngwee = sum(money_ngwee[str(i.order.order_id)] for i in working if i.order.side == Side.BUY)
    escrow_in_wh = sum(filled_wh[str(i.order.order_id)] for i in working if i.order.side == Side.SELL)
    escrow_out_ngwee = escrow_out_wh = 0
    cluster_sold_wh = 0
    for number, trade in enumerate(result.trades, start=1):
        buyer = by_order[trade.buy_order_id]
        seller = by_order.get(trade.sell_order_id)  # None: the cluster
        if seller is None:
            energy_from, money_to = accounts.cluster_energy, accounts.cluster_revenue
            cluster_sold_wh += trade.energy_wh
        else:
            energy_from, money_to = accounts.escrow_wh, seller.ngwee_account
            escrow_out_wh += trade.energy_wh
        key = f"{interval_id}:trade:{number}"
        linked = TransferFlags.LINKED if trade.cost_ngwee else TransferFlags.NONE
        transfers.append(Transfer(f"{key}:wh", energy_from, buyer.wh_account, trade.energy_wh, WH, interval_id,
                                  "trade", linked))
        if trade.cost_ngwee:
            transfers.append(Transfer(f"{key}:ngwee", accounts.escrow_ngwee, money_to, trade.cost_ngwee, NGWEE,
                                      interval_id, "trade"))
            escrow_out_ngwee += trade.cost_ngwee
        trades.append(TradeRecord(number, buyer.order_id, None if seller is None else seller.order_id,
                                  buyer.member_id, None if seller is None else seller.member_id, trade.energy_wh,
                                  trade.price_ngwee_per_kwh, trade.cost_ngwee))
    invariant(escrow_in_ngwee == escrow_out_ngwee, "every ngwee taken into escrow is paid to a seller")
    invariant(escrow_in_wh == escrow_out_wh, "every Wh taken into escrow is delivered to a buyer")

    member_records = _member_records(members, distribution, result, trades)
    renewable_wh = sum(record.renewable_wh for record in member_records)
    figures = SettlementFigures(
        dynamic_price_ngwee_per_kwh=price,
        clearing_price_ngwee_per_kwh=result.clearing_price_ngwee_per_kwh,
        demand_wh=conditions.demand_wh,
        supply_wh=conditions.supply_wh,
        utilisation_bp=utilisation,
        consumption_wh=sum(m.consumption_wh for m in members),
        shared_generation_wh=snapshot.shared_generation_wh,
        prosumer_generation_wh=sum(m.generation_wh for m in members),
        allocated_wh=distribution.allocated_wh,
        cluster_surplus_wh=distribution.cluster_surplus_wh,
        cluster_sold_wh=cluster_sold_wh,
        traded_wh=result.traded_wh,
        traded_ngwee=result.traded_ngwee,
        renewable_wh=renewable_wh,
        members_count=len(member_records),
        orders_count=len(book),
        trades_count=len(trades),
        scheduled_executed=executed,
        scheduled_failed=failed,
    )
    keys = {transfer.key for transfer in transfers}
    invariant(len(keys) == len(transfers), "every transfer of an interval has its own key")
    return SettlementPlan(interval_id, snapshot.interval.index, tuple(transfers), figures, member_records,
                          tuple(trades), tuple(updates[order_id] for order_id in sorted(updates)),
                          snapshot.advances)


def _reserve(order: StandingOrder, number: int, amount: int, accounts, interval_id: str) -> Transfer:
    if order.side == Side.BUY:
        debit, credit, unit = order.ngwee_account, accounts.escrow_ngwee, NGWEE
    else:
        debit, credit, unit = order.wh_account, accounts.escrow_wh, WH
    return Transfer(reservation_key(order.order_id, number), debit, credit, amount, unit, interval_id,
                    "order_reserve", TransferFlags.PENDING)


def _resolve(item: _Working, filled_wh: int, money_ngwee: int, snapshot: IntervalSnapshot,
             interval_id: str) -> tuple[OrderUpdate | None, list[Transfer]]:
    """The transfers and the new state of one order after the auction."""
    order = item.order
    is_bid = order.side == Side.BUY
    pending_key = reservation_key(order.order_id, item.number)
    expiring = order.last_interval <= snapshot.interval.index
    total_filled_wh = order.filled_wh + filled_wh
    total_ngwee = order.amount_ngwee + money_ngwee
    remaining_wh = order.energy_wh - total_filled_wh
    invariant(remaining_wh >= 0, "an order is never over-filled")
    transfers: list[Transfer] = []
    if filled_wh == 0:
        if not expiring:
            if not item.executed_now:
                return None, transfers  # stands on, untouched
            return OrderUpdate(order.order_id, OrderState.OPEN.value, order.filled_wh, order.amount_ngwee,
                               item.reserved, item.number), transfers
        if item.reserved:
            transfers.append(void_pending_transfer(f"order:{order.order_id}:void:{item.number}", pending_key,
                                                   interval_id=interval_id, kind="order_void"))
        return OrderUpdate(order.order_id, OrderState.EXPIRED.value, order.filled_wh, order.amount_ngwee, 0,
                           item.number), transfers

    posted = money_ngwee if is_bid else filled_wh
    invariant(posted <= item.reserved, "a fill never costs more than its reservation")
    if posted:
        transfers.append(post_pending_transfer(f"order:{order.order_id}:post:{item.number}", pending_key,
                                               interval_id=interval_id, kind="order_fill", amount=posted))
    else:  # Wh so few that they cost under 1 ngwee: nothing to take, release it all
        transfers.append(void_pending_transfer(f"order:{order.order_id}:void:{item.number}", pending_key,
                                               interval_id=interval_id, kind="order_void"))
    if remaining_wh == 0:
        return OrderUpdate(order.order_id, OrderState.FILLED.value, total_filled_wh, total_ngwee, 0,
                           item.number), transfers
    if expiring:
        return OrderUpdate(order.order_id, OrderState.EXPIRED.value, total_filled_wh, total_ngwee, 0,
                           item.number), transfers
    if is_bid:
        budget = None if order.max_cost_ngwee is None else order.max_cost_ngwee - total_ngwee
        again = bid_reservation_ngwee(order.limit_price_ngwee_per_kwh, remaining_wh, budget)
        if again <= 0 or bid_matchable_wh(order.limit_price_ngwee_per_kwh, remaining_wh, again) == 0:
            return OrderUpdate(order.order_id, OrderState.EXPIRED.value, total_filled_wh, total_ngwee, 0,
                               item.number, "max_cost_reached"), transfers
        # ceil(L×(r−f)/1000) ≤ ceil(L×r/1000) − floor(L×f/1000) ≤ reserved − cost: the release covers it.
        invariant(again <= item.reserved - posted, "a re-reservation fits in what the fill released")
    else:
        again = remaining_wh
        invariant(again <= item.reserved - posted, "an offer re-reserves only its unfilled Wh")
    transfers.append(_reserve(order, item.number + 1, again, snapshot.accounts, interval_id))
    return OrderUpdate(order.order_id, OrderState.OPEN.value, total_filled_wh, total_ngwee, again,
                       item.number + 1), transfers


def _member_records(members, distribution, result, trades: list[TradeRecord]) -> tuple[MemberRecord, ...]:
    figures: dict[int, dict] = {}
    for member, allocation in zip(members, distribution.members, strict=True):
        figures[member.member_id] = dict(
            consumption_wh=member.consumption_wh, generation_wh=member.generation_wh,
            own_used_wh=allocation.own_used_wh, allocation_wh=allocation.allocation_wh,
            deficit_wh=allocation.deficit_wh, surplus_wh=allocation.surplus_wh,
        )
    for trade in trades:
        buyer = figures.setdefault(trade.buyer_member_id, {})
        buyer["bought_wh"] = buyer.get("bought_wh", 0) + trade.energy_wh
        buyer["paid_ngwee"] = buyer.get("paid_ngwee", 0) + trade.cost_ngwee
        if trade.seller_member_id is not None:
            seller = figures.setdefault(trade.seller_member_id, {})
            seller["sold_wh"] = seller.get("sold_wh", 0) + trade.energy_wh
            seller["received_ngwee"] = seller.get("received_ngwee", 0) + trade.cost_ngwee
    # Carbon is attributed by consumption: own solar used, allocation, and energy bought on the market.
    for record in renewable_consumption(distribution, result):
        figures.setdefault(int(record.member_id), {})["renewable_wh"] = record.energy_wh
    return tuple(MemberRecord(member_id, **figures[member_id]) for member_id in sorted(figures)
                 if any(figures[member_id].values()))
