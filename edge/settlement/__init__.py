"""Settlement of the cluster market, interval by interval (docs/settlement.md).

`settle_interval` / `settle_due` (service) turn an interval's readings and orders into ledger transfers and
records in one transaction; `plan_settlement` (plan) is the pure part over a frozen `IntervalSnapshot`
(snapshot); `history` answers what settled intervals tell (prices, trades, carbon, statements).
"""

from edge.settlement import tables
from edge.settlement.history import (
    CarbonRead,
    CurrentPrice,
    PricePoint,
    StatementLine,
    TradeRead,
    cluster_carbon_report,
    current_price,
    list_trades,
    member_carbon_report,
    member_statement,
    prepaid_price,
    price_history,
)
from edge.settlement.plan import SettlementPlan, plan_settlement
from edge.settlement.service import (
    SettlementFailedError,
    SettlementRead,
    get_settlement,
    list_settlements,
    settle_due,
    settle_interval,
)
from edge.settlement.snapshot import IntervalSnapshot, read_snapshot

__all__ = (
    "CarbonRead",
    "CurrentPrice",
    "IntervalSnapshot",
    "PricePoint",
    "SettlementFailedError",
    "SettlementPlan",
    "SettlementRead",
    "StatementLine",
    "TradeRead",
    "cluster_carbon_report",
    "current_price",
    "get_settlement",
    "list_settlements",
    "list_trades",
    "member_carbon_report",
    "member_statement",
    "plan_settlement",
    "prepaid_price",
    "price_history",
    "read_snapshot",
    "settle_due",
    "settle_interval",
    "tables",
)
