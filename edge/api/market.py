"""HTTP adapters for the market: orders (one, bulk, scheduled; cancel), trades, prices, settlements."""

from dataclasses import dataclass
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from nacl.signing import SigningKey
from sqlalchemy.engine import Engine

from edge.intervals import parse_interval_id
from edge.limits import PAGE_MAX
from edge.orders import (
    BulkItemResult,
    OrderCreate,
    OrderRead,
    cancel_order,
    get_order,
    list_orders,
    place_order,
    place_orders,
)
from edge.settlement import (
    CurrentPrice,
    PricePoint,
    SettlementRead,
    TradeRead,
    current_price,
    get_settlement,
    list_settlements,
    list_trades,
    price_history,
    settle_due,
    settle_interval,
)

Limit = Annotated[int, QueryParameter(ge=1, le=PAGE_MAX)]


@dataclass(frozen=True)
class BulkOrders:
    orders: list[OrderCreate]


@dataclass(frozen=True)
class SettleRequest:
    interval_id: str | None = None  # None: every interval that is over and not settled yet


class OrderController(Controller):
    path = "/api/orders"
    tags = ("market",)

    @post("/", sync_to_thread=True,
          summary="Place a buy bid or sell offer (with execute_at_s: a trade scheduled up to 30 days ahead)")
    def place(self, engine: NamedDependency[Engine], data: JSONBody[OrderCreate]) -> OrderRead:
        return place_order(engine, data)

    @post("/bulk", sync_to_thread=True, status_code=200,
          summary="Up to 50 orders; each result reported on its own, in request order")
    def bulk(self, engine: NamedDependency[Engine], data: JSONBody[BulkOrders]) -> list[BulkItemResult]:
        return place_orders(engine, data.orders)

    @get("/", sync_to_thread=False, summary="Orders, newest first")
    def list_all(
        self,
        engine: NamedDependency[Engine],
        member_id: Annotated[int | None, QueryParameter()] = None,
        order_state: Annotated[str | None, QueryParameter(name="state")] = None,
        limit: Limit = 100,
    ) -> list[OrderRead]:
        return list_orders(engine, member_id=member_id, state=order_state, limit=limit)

    @get("/{order_id:int}", sync_to_thread=False)
    def show(self, engine: NamedDependency[Engine], order_id: FromPath[int]) -> OrderRead:
        return get_order(engine, order_id)

    @delete("/{order_id:int}", sync_to_thread=True, status_code=200,
            summary="Cancel a scheduled or open order (its reservation is released)")
    def cancel(self, engine: NamedDependency[Engine], order_id: FromPath[int],
               member_id: Annotated[int | None, QueryParameter()] = None) -> OrderRead:
        return cancel_order(engine, order_id, member_id=member_id)


class TradeController(Controller):
    path = "/api/trades"
    tags = ("market",)

    @get("/", sync_to_thread=False, summary="Trades, newest interval first")
    def list_all(
        self,
        engine: NamedDependency[Engine],
        interval_id: Annotated[str | None, QueryParameter()] = None,
        member_id: Annotated[int | None, QueryParameter()] = None,
        limit: Limit = 100,
    ) -> list[TradeRead]:
        interval = None if interval_id is None else parse_interval_id(interval_id)
        return list_trades(engine, interval=interval, member_id=member_id, limit=limit)


class PriceController(Controller):
    path = "/api/prices"
    tags = ("market",)

    @get("/current", sync_to_thread=False, summary="Current price (ngwee/kWh), trend and volatility")
    def current(self, engine: NamedDependency[Engine]) -> CurrentPrice:
        return current_price(engine)

    @get("/history", sync_to_thread=False, summary="Price per settled interval, newest first")
    def history(self, engine: NamedDependency[Engine], limit: Limit = 96) -> list[PricePoint]:
        return price_history(engine, limit)


class SettlementController(Controller):
    path = "/api/settlements"
    tags = ("settlement",)

    @post("/", sync_to_thread=True, status_code=200,
          summary="Settle one interval, or every interval that is over and not settled yet")
    def settle(self, engine: NamedDependency[Engine], gateway_key: NamedDependency[SigningKey],
               data: JSONBody[SettleRequest]) -> list[SettlementRead]:
        if data.interval_id is None:
            return settle_due(engine, gateway_key)
        return [settle_interval(engine, parse_interval_id(data.interval_id), gateway_key)]

    @get("/", sync_to_thread=False, summary="Settled intervals, newest first")
    def list_all(self, engine: NamedDependency[Engine], limit: Limit = 96) -> list[SettlementRead]:
        return list_settlements(engine, limit)

    @get("/{interval_id:str}", sync_to_thread=False,
         summary="One settled interval, by its start (e.g. 2026-11-21T10:00Z)")
    def show(self, engine: NamedDependency[Engine], interval_id: FromPath[str]) -> SettlementRead:
        return get_settlement(engine, parse_interval_id(interval_id))
