"""Orders on the cluster market: buy bids and sell offers with limit prices, one at a time or in bulk, now or
scheduled up to 30 days ahead; and their cancellation.

Life of an order (docs/settlement.md):
- Placed now: it stands from the open interval (the one holding "now", or the one after the last settled
  interval if that is later) for `intervals_count` intervals (1..96). Placing it reserves its maximum at once
  as a *pending* ledger transfer into the market's escrow: a bid reserves ceil(limit × Wh / 1000) ngwee (or its
  `max_cost_ngwee`, if lower), an offer reserves its Wh. No funds, no order: `insufficient_funds`, nothing
  written. The order row and its reservation commit in one transaction.
- Scheduled (`execute_at_s`, up to 30 days ahead): stored without a reservation; the settlement of the interval
  holding `execute_at_s` reserves and matches it (or marks it `failed` with the reason, e.g. insufficient funds).
- At each settlement an order in the auction is filled in part, in full or not at all; the reservation is then
  posted for what was filled (the rest released), and re-made for the rest if the order still stands.
  An order whose intervals are over is `expired`: its reservation is voided.
- Cancelling an `open` order voids its reservation; a `scheduled` order is simply withdrawn.
States: scheduled → open → filled | expired | cancelled; scheduled → failed | cancelled.

Refused (nothing written): unknown member, bad side/amount/price/time, a bid or offer that would trade with the
member's own standing order on the other side (`trade_with_self`), too many active orders, insufficient funds.
Bulk: at most 50 orders per request (`bulk_too_large` otherwise, and nothing is placed); each item succeeds or
fails on its own and the results come back in request order.
"""

import time
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from edge.bookkeeping import Books, LedgerRejection, open_books
from edge.errors import ConflictError, InvalidRequestError, NotFoundError, ServiceError
from edge.intervals import Interval, interval_at
from edge.ledger import Transfer, TransferFlags, void_pending_transfer
from edge.limits import (
    BULK_ORDERS_MAX,
    ORDER_INTERVALS_MAX,
    ORDER_PRICE_NGWEE_PER_KWH_MAX,
    ORDER_WH_MAX,
    ORDERS_ACTIVE_MAX,
    ORDERS_ACTIVE_PER_MEMBER_MAX,
    PAGE_MAX,
    SCHEDULE_AHEAD_S_MAX,
)
from edge.members import check_amount, check_request_key, ledger_conflict, require_member
from edge.wallets import NGWEE, WH, system_accounts

WH_PER_KWH = 1_000


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderState(StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    FILLED = "filled"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    FAILED = "failed"


ACTIVE_STATES = (OrderState.SCHEDULED.value, OrderState.OPEN.value)


class MarketOrder(SQLModel, table=True):
    __tablename__ = "market_order"
    order_id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.member_id", index=True)
    side: str
    energy_wh: int
    limit_price_ngwee_per_kwh: int
    max_cost_ngwee: int | None = None
    state: str = Field(index=True)
    first_interval: int  # index of the first interval it stands in
    last_interval: int  # index of the last
    execute_at_s: int | None = None  # scheduled orders only
    filled_wh: int = 0
    amount_ngwee: int = 0  # paid (bid) or received (offer) so far
    reserved: int = 0  # the current reservation: ngwee for a bid, Wh for an offer; 0 when none
    reservation_number: int = 0  # the current reservation is "order:<id>:reserve:<n>"
    failure_code: str | None = None
    request_key: str | None = Field(default=None, unique=True)
    created_at_s: int


@dataclass(frozen=True, slots=True)
class OrderCreate:
    member_id: int
    side: str
    energy_wh: int
    limit_price_ngwee_per_kwh: int
    max_cost_ngwee: int | None = None  # bids only: never pay more than this in total
    intervals_count: int = 1  # how many intervals the order stands for
    execute_at_s: int | None = None  # schedule: the order enters the auction of the interval holding this time
    request_key: str | None = None  # the client's idempotency key: a retry returns the first order


@dataclass(frozen=True, slots=True)
class OrderRead:
    order_id: int
    member_id: int
    side: str
    energy_wh: int
    limit_price_ngwee_per_kwh: int
    max_cost_ngwee: int | None
    state: str
    first_interval_id: str
    last_interval_id: str
    execute_at_s: int | None
    filled_wh: int
    amount_ngwee: int
    reserved: int
    failure_code: str | None
    created_at_s: int

    @classmethod
    def of(cls, row) -> "OrderRead":
        return cls(row.order_id, row.member_id, row.side, row.energy_wh, row.limit_price_ngwee_per_kwh,
                   row.max_cost_ngwee, row.state, Interval(row.first_interval).interval_id,
                   Interval(row.last_interval).interval_id, row.execute_at_s, row.filled_wh, row.amount_ngwee,
                   row.reserved, row.failure_code, row.created_at_s)


@dataclass(frozen=True, slots=True)
class BulkItemResult:
    index: int
    ok: bool
    order: OrderRead | None = None
    code: str | None = None
    detail: str | None = None


def reservation_key(order_id: int, number: int) -> str:
    return f"order:{order_id}:reserve:{number}"


def bid_reservation_ngwee(limit_price: int, energy_wh: int, budget_ngwee: int | None) -> int:
    """What a bid reserves: its cost at its limit, rounded up, or the budget left when that is lower."""
    at_limit = -(-limit_price * energy_wh // WH_PER_KWH)
    return at_limit if budget_ngwee is None else min(at_limit, budget_ngwee)


def bid_matchable_wh(limit_price: int, remaining_wh: int, reserved_ngwee: int) -> int:
    """Wh a bid may take in an auction: no more than its reservation pays for at its limit (the clearing price
    is never above the limit, so the cost of any fill stays within the reservation)."""
    return min(remaining_wh, reserved_ngwee * WH_PER_KWH // limit_price)


def reservation_transfer(order_id: int, number: int, side: str, member_ngwee: int, member_wh: int,
                         escrow_ngwee: int, escrow_wh: int, amount: int, interval_id: str) -> Transfer:
    if side == Side.BUY:
        debit, credit, unit = member_ngwee, escrow_ngwee, NGWEE
    else:
        debit, credit, unit = member_wh, escrow_wh, WH
    return Transfer(reservation_key(order_id, number), debit, credit, amount, unit, interval_id, "order_reserve",
                    TransferFlags.PENDING)


def _now_s(now_s: int | None) -> int:
    return int(time.time()) if now_s is None else int(now_s)


def open_interval_index(cursor, now_s: int) -> int:
    """The interval an order placed now stands in first: the one holding now, or the one after the last
    settled interval when settlement already ran past it."""
    cursor.execute("SELECT MAX(interval_index) FROM settlement")
    last_settled = cursor.fetchone()[0]
    current = interval_at(now_s).index
    return current if last_settled is None else max(current, last_settled + 1)


@dataclass(frozen=True, slots=True)
class _Checked:
    member_id: int
    ngwee_account: int
    wh_account: int
    side: str
    energy_wh: int
    limit: int
    max_cost: int | None
    intervals_count: int
    execute_at_s: int | None
    request_key: str | None


def _check(engine: Engine, request: OrderCreate, now_s: int) -> _Checked:
    member = require_member(engine, request.member_id)
    try:
        side = Side(request.side).value
    except ValueError as err:
        raise InvalidRequestError("side_invalid", "side must be buy or sell") from err
    energy_wh = check_amount(request.energy_wh, "energy_wh", 1, ORDER_WH_MAX)
    limit = check_amount(request.limit_price_ngwee_per_kwh, "limit_price_ngwee_per_kwh", 1,
                         ORDER_PRICE_NGWEE_PER_KWH_MAX)
    max_cost = request.max_cost_ngwee
    if max_cost is not None:
        if side != Side.BUY:
            raise InvalidRequestError("max_cost_only_for_bids", "max_cost_ngwee applies to buy orders only")
        max_cost = check_amount(max_cost, "max_cost_ngwee", 1, ORDER_PRICE_NGWEE_PER_KWH_MAX * ORDER_WH_MAX)
        if bid_matchable_wh(limit, energy_wh, bid_reservation_ngwee(limit, energy_wh, max_cost)) == 0:
            raise InvalidRequestError("max_cost_too_small", "max_cost_ngwee does not pay for 1 Wh at the limit")
    intervals_count = check_amount(request.intervals_count, "intervals_count", 1, ORDER_INTERVALS_MAX)
    execute_at_s = request.execute_at_s
    if execute_at_s is not None:
        if type(execute_at_s) is not int:
            raise InvalidRequestError("execute_at_s_must_be_integer", "execute_at_s must be Unix seconds")
        if execute_at_s <= now_s:
            raise InvalidRequestError("execute_at_s_in_the_past", "a scheduled trade must be in the future")
        if execute_at_s > now_s + SCHEDULE_AHEAD_S_MAX:
            raise InvalidRequestError("execute_at_s_too_far", "trades can be scheduled up to 30 days ahead")
    return _Checked(member.member_id, member.ngwee_account_id, member.wh_account_id, side, energy_wh, limit,
                    max_cost, intervals_count, execute_at_s, check_request_key(request.request_key))


def _get_row(cursor, order_id: int):
    cursor.execute(f"SELECT {_COLUMNS} FROM market_order WHERE order_id = ?", (order_id,))
    row = cursor.fetchone()
    return None if row is None else MarketOrder(**dict(zip(_COLUMN_NAMES, row, strict=True)))


_COLUMN_NAMES = tuple(MarketOrder.model_fields)
_COLUMNS = ", ".join(_COLUMN_NAMES)


def _place_in(books: Books, checked: _Checked, accounts, now_s: int) -> OrderRead:
    cursor = books.cursor
    if checked.request_key is not None:
        cursor.execute("SELECT order_id FROM market_order WHERE request_key = ?", (checked.request_key,))
        found = cursor.fetchone()
        if found is not None:
            earlier = _get_row(cursor, found[0])
            same = (earlier.member_id, earlier.side, earlier.energy_wh, earlier.limit_price_ngwee_per_kwh,
                    earlier.max_cost_ngwee, earlier.execute_at_s) == (
                checked.member_id, checked.side, checked.energy_wh, checked.limit, checked.max_cost,
                checked.execute_at_s)
            if not same:
                raise ConflictError("request_key_reused", "request_key was used for another order")
            return OrderRead.of(earlier)
    first = open_interval_index(cursor, now_s)
    if checked.execute_at_s is not None:
        first = max(first, interval_at(checked.execute_at_s).index)
    last = first + checked.intervals_count - 1
    placeholders = ",".join("?" * len(ACTIVE_STATES))
    cursor.execute(f"SELECT COUNT(*) FROM market_order WHERE state IN ({placeholders})", ACTIVE_STATES)
    if cursor.fetchone()[0] >= ORDERS_ACTIVE_MAX:
        raise ConflictError("order_book_full", f"the market holds at most {ORDERS_ACTIVE_MAX} active orders")
    cursor.execute(
        "SELECT side, limit_price_ngwee_per_kwh, first_interval, last_interval FROM market_order"
        f" WHERE member_id = ? AND state IN ({placeholders})",
        (checked.member_id, *ACTIVE_STATES),
    )
    active = cursor.fetchall()
    if len(active) >= ORDERS_ACTIVE_PER_MEMBER_MAX:
        raise ConflictError("too_many_orders", f"a member has at most {ORDERS_ACTIVE_PER_MEMBER_MAX} active orders")
    for side, limit, other_first, other_last in active:
        overlaps = other_first <= last and first <= other_last
        bid, offer = (checked.limit, limit) if checked.side == Side.BUY else (limit, checked.limit)
        if side != checked.side and overlaps and bid >= offer:
            raise ConflictError("trade_with_self", "this would trade with your own standing order on the other side")
    scheduled = checked.execute_at_s is not None
    cursor.execute(
        "INSERT INTO market_order (member_id, side, energy_wh, limit_price_ngwee_per_kwh, max_cost_ngwee, state,"
        " first_interval, last_interval, execute_at_s, filled_wh, amount_ngwee, reserved, reservation_number,"
        " failure_code, request_key, created_at_s) VALUES (?,?,?,?,?,?,?,?,?,0,0,0,0,NULL,?,?)",
        (checked.member_id, checked.side, checked.energy_wh, checked.limit, checked.max_cost,
         OrderState.SCHEDULED.value if scheduled else OrderState.OPEN.value, first, last, checked.execute_at_s,
         checked.request_key, now_s),
    )
    order_id = cursor.lastrowid
    if not scheduled:
        amount = (bid_reservation_ngwee(checked.limit, checked.energy_wh, checked.max_cost)
                  if checked.side == Side.BUY else checked.energy_wh)
        transfer = reservation_transfer(order_id, 1, checked.side, checked.ngwee_account, checked.wh_account,
                                        accounts.escrow_ngwee, accounts.escrow_wh, amount,
                                        Interval(first).interval_id)
        books.require([transfer])
        cursor.execute("UPDATE market_order SET reserved = ?, reservation_number = 1 WHERE order_id = ?",
                       (amount, order_id))
    return OrderRead.of(_get_row(cursor, order_id))


def place_order(engine: Engine, request: OrderCreate, *, now_s: int | None = None) -> OrderRead:
    """Place one order (see the module docstring); ServiceError when refused, with nothing written."""
    now = _now_s(now_s)
    checked = _check(engine, request, now)
    accounts = system_accounts(engine)
    try:
        with open_books(engine) as books:
            return _place_in(books, checked, accounts, now)
    except LedgerRejection as err:
        raise ledger_conflict(err) from err


def place_orders(engine: Engine, requests: list[OrderCreate], *, now_s: int | None = None) -> list[BulkItemResult]:
    """Place up to 50 orders in one transaction; each succeeds or fails on its own (results in request order)."""
    if len(requests) > BULK_ORDERS_MAX:
        raise InvalidRequestError("bulk_too_large", f"a bulk request holds at most {BULK_ORDERS_MAX} orders")
    if not requests:
        raise InvalidRequestError("bulk_empty", "a bulk request needs at least one order")
    now = _now_s(now_s)
    checked: list[_Checked | ServiceError] = []
    for request in requests:
        try:
            checked.append(_check(engine, request, now))
        except ServiceError as err:
            checked.append(err)
    accounts = system_accounts(engine)
    results = []
    with open_books(engine) as books:
        for index, item in enumerate(checked):
            if isinstance(item, ServiceError):
                results.append(BulkItemResult(index, False, code=item.code, detail=str(item)))
                continue
            books.cursor.execute("SAVEPOINT bulk_item")
            try:
                order = _place_in(books, item, accounts, now)
            except (ServiceError, LedgerRejection) as err:
                # Undo this item's row; a rejected reservation stored nothing in the journal.
                books.cursor.execute("ROLLBACK TO bulk_item")
                books.cursor.execute("RELEASE bulk_item")
                error = ledger_conflict(err) if isinstance(err, LedgerRejection) else err
                results.append(BulkItemResult(index, False, code=error.code, detail=str(error)))
                continue
            books.cursor.execute("RELEASE bulk_item")
            results.append(BulkItemResult(index, True, order=order))
    return results


def cancel_order(engine: Engine, order_id: int, *, member_id: int | None = None,
                 now_s: int | None = None) -> OrderRead:
    """Cancel a scheduled or open order (voiding its reservation). `member_id`, when given, must own it."""
    now = _now_s(now_s)
    with open_books(engine) as books:
        row = _get_row(books.cursor, order_id)
        if row is None or (member_id is not None and row.member_id != member_id):
            raise NotFoundError("order_not_found", f"no order {order_id}")
        if row.state not in ACTIVE_STATES:
            raise ConflictError("order_not_active", f"order {order_id} is {row.state}; only scheduled or open"
                                " orders can be cancelled")
        if row.state == OrderState.OPEN and row.reserved > 0:
            key = reservation_key(order_id, row.reservation_number)
            books.require([void_pending_transfer(f"order:{order_id}:cancel", key,
                                                 interval_id=interval_at(now).interval_id, kind="order_cancel")])
        books.cursor.execute("UPDATE market_order SET state = ?, reserved = 0 WHERE order_id = ?",
                             (OrderState.CANCELLED.value, order_id))
        return OrderRead.of(_get_row(books.cursor, order_id))


def get_order(engine: Engine, order_id: int) -> OrderRead:
    with Session(engine) as session:
        row = session.get(MarketOrder, order_id)
        if row is None:
            raise NotFoundError("order_not_found", f"no order {order_id}")
        return OrderRead.of(row)


def list_orders(engine: Engine, *, member_id: int | None = None, state: str | None = None,
                limit: int = 100) -> list[OrderRead]:
    limit = check_amount(limit, "limit", 1, PAGE_MAX)
    statement = select(MarketOrder).order_by(MarketOrder.order_id.desc()).limit(limit)
    if member_id is not None:
        require_member(engine, member_id)
        statement = statement.where(MarketOrder.member_id == member_id)
    if state is not None:
        try:
            statement = statement.where(MarketOrder.state == OrderState(state).value)
        except ValueError as err:
            raise InvalidRequestError("state_invalid", f"state must be one of {[s.value for s in OrderState]}") \
                from err
    with Session(engine) as session:
        return [OrderRead.of(row) for row in session.exec(statement)]

