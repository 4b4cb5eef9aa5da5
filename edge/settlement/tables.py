"""Settlement records, written in the same transaction as the interval's ledger transfers (`edge.bookkeeping`).

- `settlement`: one row per settled interval: prices, market totals, counts. Its presence means "settled".
- `settlement_member`: per interval, each member with any non-zero figure: what it used, generated, was
  allocated, bought and sold (the detail behind its ledger entries, for statements and carbon reports).
- `trade`: every trade of every interval (buyer, seller, Wh, price, cost); the cluster's own surplus offer has
  member id NULL.
- `meter_position`: per meter, the last reading settlement has counted (seq and cumulative counters), so the
  next interval counts exactly what came after it — readings that arrive late are counted in the next
  interval instead of being lost.
"""

from sqlmodel import Field, SQLModel


class Settlement(SQLModel, table=True):
    interval_index: int = Field(primary_key=True)
    interval_id: str = Field(unique=True)
    settled_at_us: int
    dynamic_price_ngwee_per_kwh: int
    clearing_price_ngwee_per_kwh: int | None = None
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
    members_count: int  # members with a figure in the interval
    orders_count: int  # orders in the auction, the cluster's offer included
    trades_count: int
    transfers_count: int  # transfers this settlement stored in the journal
    scheduled_executed: int
    scheduled_failed: int


class SettlementMember(SQLModel, table=True):
    __tablename__ = "settlement_member"
    interval_index: int = Field(primary_key=True)
    member_id: int = Field(primary_key=True, index=True)
    consumption_wh: int
    generation_wh: int
    own_used_wh: int
    allocation_wh: int
    deficit_wh: int
    surplus_wh: int
    bought_wh: int
    sold_wh: int
    paid_ngwee: int
    received_ngwee: int
    renewable_wh: int


class TradeRow(SQLModel, table=True):
    __tablename__ = "trade"
    interval_index: int = Field(primary_key=True)
    trade_number: int = Field(primary_key=True)
    buy_order_id: int
    sell_order_id: int | None = None  # None: the cluster's surplus offer
    buyer_member_id: int = Field(index=True)
    seller_member_id: int | None = Field(default=None, index=True)  # None: the cluster
    energy_wh: int
    price_ngwee_per_kwh: int
    cost_ngwee: int


class MeterPosition(SQLModel, table=True):
    __tablename__ = "meter_position"
    meter_id: str = Field(primary_key=True)
    seq: int
    energy_wh: int
    energy_out_wh: int
    interval_index: int
