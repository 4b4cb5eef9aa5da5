"""What settled intervals tell: price history, the current price and its trend, trades, carbon, statements.

Read-only views over the settlement records, for the HTTP API, USSD and the cloud uplink.
- `current_price`: the dynamic price of the last settled interval (the reference 1.20 ZMW/kWh before any),
  with the trend (least-squares over the last 8 intervals) and volatility (over the last 96: one day).
- `price_history`: per interval, oldest last, the dynamic and clearing prices and the market's totals.
- `member_carbon_report` / `cluster_carbon_report`: CO2 avoided by the renewable energy a member used
  (own solar, allocation, energy bought on the cluster market), summed in Wh first and converted once.
"""

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from edge.intervals import Interval
from edge.limits import PAGE_MAX
from edge.market import DEFAULT_CARBON_FACTORS, DEFAULT_PRICING, carbon_impact, price_trend, volatility_bp
from edge.members import check_amount, require_member
from edge.settlement.tables import Settlement, SettlementMember, TradeRow

TREND_INTERVALS = 8
VOLATILITY_INTERVALS = 96


@dataclass(frozen=True, slots=True)
class PricePoint:
    interval_id: str
    dynamic_price_ngwee_per_kwh: int
    clearing_price_ngwee_per_kwh: int | None
    demand_wh: int
    supply_wh: int
    utilisation_bp: int
    traded_wh: int


@dataclass(frozen=True, slots=True)
class CurrentPrice:
    price_ngwee_per_kwh: int
    reference_price_ngwee_per_kwh: int
    interval_id: str | None  # the interval the price was set in; None before any settlement
    trend: str  # rising, falling, stable
    trend_change_bp: int
    volatility_bp: int
    intervals_count: int  # prices the volatility was computed over


@dataclass(frozen=True, slots=True)
class TradeRead:
    interval_id: str
    trade_number: int
    buy_order_id: int
    sell_order_id: int | None
    buyer_member_id: int
    seller_member_id: int | None  # None: the cluster's shared solar
    energy_wh: int
    price_ngwee_per_kwh: int
    cost_ngwee: int


@dataclass(frozen=True, slots=True)
class CarbonRead:
    member_id: int | None  # None: the whole cluster
    intervals_count: int
    renewable_wh: int
    co2_grams_avoided: int
    tree_days: int
    car_miles_tenths: int


@dataclass(frozen=True, slots=True)
class StatementLine:
    interval_id: str
    consumption_wh: int
    generation_wh: int
    own_used_wh: int
    allocation_wh: int
    surplus_wh: int
    bought_wh: int
    sold_wh: int
    paid_ngwee: int
    received_ngwee: int


def price_history(engine: Engine, limit: int = 96) -> list[PricePoint]:
    limit = check_amount(limit, "limit", 1, PAGE_MAX)
    with Session(engine) as session:
        rows = session.exec(select(Settlement).order_by(Settlement.interval_index.desc()).limit(limit)).all()
    return [PricePoint(r.interval_id, r.dynamic_price_ngwee_per_kwh, r.clearing_price_ngwee_per_kwh, r.demand_wh,
                       r.supply_wh, r.utilisation_bp, r.traded_wh) for r in rows]


def current_price(engine: Engine) -> CurrentPrice:
    with Session(engine) as session:
        rows = session.exec(
            select(Settlement.interval_index, Settlement.dynamic_price_ngwee_per_kwh)
            .order_by(Settlement.interval_index.desc()).limit(VOLATILITY_INTERVALS)
        ).all()
    reference = DEFAULT_PRICING.reference_price_ngwee_per_kwh
    if not rows:
        return CurrentPrice(reference, reference, None, "stable", 0, 0, 0)
    prices = [price for _index, price in reversed(rows)]  # oldest first
    trend = price_trend(prices, TREND_INTERVALS)
    return CurrentPrice(prices[-1], reference, Interval(rows[0][0]).interval_id, trend.direction.value,
                        trend.change_bp, volatility_bp(prices), len(prices))


def prepaid_price(engine: Engine) -> int:
    """What a kWh of prepaid credit costs now: the current dynamic price (ngwee per kWh)."""
    return current_price(engine).price_ngwee_per_kwh


def list_trades(engine: Engine, *, interval: Interval | None = None, member_id: int | None = None,
                limit: int = 100) -> list[TradeRead]:
    limit = check_amount(limit, "limit", 1, PAGE_MAX)
    statement = select(TradeRow).order_by(TradeRow.interval_index.desc(), TradeRow.trade_number).limit(limit)
    if interval is not None:
        statement = statement.where(TradeRow.interval_index == interval.index)
    if member_id is not None:
        require_member(engine, member_id)
        statement = statement.where((TradeRow.buyer_member_id == member_id) | (TradeRow.seller_member_id == member_id))
    with Session(engine) as session:
        return [TradeRead(Interval(t.interval_index).interval_id, t.trade_number, t.buy_order_id, t.sell_order_id,
                          t.buyer_member_id, t.seller_member_id, t.energy_wh, t.price_ngwee_per_kwh, t.cost_ngwee)
                for t in session.exec(statement)]


def _carbon(member_id: int | None, intervals_count: int, renewable_wh: int) -> CarbonRead:
    impact = carbon_impact(renewable_wh, DEFAULT_CARBON_FACTORS)
    return CarbonRead(member_id, intervals_count, renewable_wh, impact.co2_grams_avoided, impact.tree_days,
                      impact.car_miles_tenths)


def member_carbon_report(engine: Engine, member_id: int) -> CarbonRead:
    require_member(engine, member_id)
    with Session(engine) as session:
        count, renewable = session.exec(
            select(func.count(), func.coalesce(func.sum(SettlementMember.renewable_wh), 0))
            .where(SettlementMember.member_id == member_id, SettlementMember.renewable_wh > 0)
        ).one()
    return _carbon(member_id, count, renewable)


def cluster_carbon_report(engine: Engine) -> CarbonRead:
    with Session(engine) as session:
        count, renewable = session.exec(
            select(func.count(), func.coalesce(func.sum(Settlement.renewable_wh), 0))).one()
    return _carbon(None, count, renewable)


def member_statement(engine: Engine, member_id: int, limit: int = 96) -> list[StatementLine]:
    """The member's figures per settled interval, newest first."""
    require_member(engine, member_id)
    limit = check_amount(limit, "limit", 1, PAGE_MAX)
    with Session(engine) as session:
        rows = session.exec(
            select(SettlementMember).where(SettlementMember.member_id == member_id)
            .order_by(SettlementMember.interval_index.desc()).limit(limit)).all()
    return [StatementLine(Interval(r.interval_index).interval_id, r.consumption_wh, r.generation_wh, r.own_used_wh,
                          r.allocation_wh, r.surplus_wh, r.bought_wh, r.sold_wh, r.paid_ngwee, r.received_ngwee)
            for r in rows]
