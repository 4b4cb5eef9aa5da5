"""Settling intervals: snapshot → plan → ONE transaction (journal + records) → seal.

settle_interval(engine, interval, signing_key, now_s=None) -> SettlementRead
    Settles one interval that is over. In one write transaction (`edge.bookkeeping`): reads the frozen snapshot,
    plans it (`edge.settlement.plan`), posts every transfer (each must succeed, or nothing is kept), and writes
    the interval's records (settlement, members, trades, order states, meter positions). Then seals the journal
    head for the interval with the gateway key (`edge.ledger.seal_interval`, idempotent).
    A crash at any point leaves the journal with all of the interval or none of it. Settling a settled interval
    again changes nothing and returns the stored result (and seals it, if the crash came between commit and
    seal). Refused: an interval not over yet (`interval_not_over`), or older than the last settled one
    (`interval_before_last_settled`: meter positions only move forward).
settle_due(engine, signing_key, now_s=None) -> list[SettlementRead]
    Settles, in order, every interval that is over and not settled yet, from the one after the last settled
    (or, on a fresh gateway, just the last completed one), at most CATCH_UP_INTERVALS_MAX per call.
"""

import time
from dataclasses import dataclass, fields

from nacl.signing import SigningKey
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from edge.bookkeeping import Books, LedgerRejection, open_books
from edge.errors import ConflictError, NotFoundError
from edge.intervals import Interval, last_completed
from edge.ledger import seal_interval
from edge.limits import CATCH_UP_INTERVALS_MAX, PAGE_MAX
from edge.market import DEFAULT_PRICING, PricingConfig
from edge.members import Member, check_amount, require_member
from edge.settlement.plan import SettlementFigures, SettlementPlan, plan_settlement
from edge.settlement.snapshot import read_snapshot
from edge.settlement.tables import Settlement
from edge.wallets import system_accounts


class SettlementFailedError(Exception):
    """The ledger refused a transfer of a settlement plan: a bug or a tampered database. Nothing was kept."""


@dataclass(frozen=True, slots=True)
class SettlementRead(SettlementFigures):
    """An interval's figures (as planned) and how its settlement went."""

    interval_id: str
    settled_now: bool  # False: it was settled before, nothing changed
    settled_at_us: int
    transfers_count: int
    seal_id: int | None = None

    @classmethod
    def of(cls, row: Settlement, settled_now: bool, seal_id: int | None = None) -> "SettlementRead":
        values = {f.name: getattr(row, f.name) for f in fields(cls) if hasattr(row, f.name)}
        return cls(**values, settled_now=settled_now, seal_id=seal_id)

    def line(self) -> str:
        verb = "settled" if self.settled_now else "already settled"
        clearing = "-" if self.clearing_price_ngwee_per_kwh is None else self.clearing_price_ngwee_per_kwh
        return (f"{self.interval_id} {verb}: price {self.dynamic_price_ngwee_per_kwh} ngwee/kWh (clearing "
                f"{clearing}), {self.members_count} members, allocated {self.allocated_wh} Wh, {self.trades_count}"
                f" trades {self.traded_wh} Wh {self.traded_ngwee} ngwee, {self.transfers_count} transfers"
                f"{'' if self.seal_id is None else f', seal {self.seal_id}'}")


_SETTLEMENT_COLUMNS = tuple(Settlement.model_fields)


def _read_settlement(cursor, interval_index: int) -> Settlement | None:
    cursor.execute(f"SELECT {', '.join(_SETTLEMENT_COLUMNS)} FROM settlement WHERE interval_index = ?",
                   (interval_index,))
    row = cursor.fetchone()
    return None if row is None else Settlement(**dict(zip(_SETTLEMENT_COLUMNS, row, strict=True)))


def settle_interval(engine: Engine, interval: Interval, signing_key: SigningKey, *, now_s: int | None = None,
                    pricing: PricingConfig = DEFAULT_PRICING) -> SettlementRead:
    now = int(time.time()) if now_s is None else int(now_s)
    if interval.end_s > now:
        raise ConflictError("interval_not_over", f"interval {interval} is not over yet")
    accounts = system_accounts(engine)
    _repair_member_accounts(engine)
    settled_now = False
    with open_books(engine) as books:
        row = _read_settlement(books.cursor, interval.index)
        if row is None:
            books.cursor.execute("SELECT MAX(interval_index) FROM settlement")
            last = books.cursor.fetchone()[0]
            if last is not None and interval.index < last:
                raise ConflictError("interval_before_last_settled",
                                    f"interval {interval} is older than the last settled, {Interval(last)}")
            plan = plan_settlement(read_snapshot(books, interval, accounts, pricing))
            try:
                books.require(plan.transfers)
            except LedgerRejection as err:
                raise SettlementFailedError(f"settlement of {interval} refused by the ledger: {err}") from err
            _write_records(books, plan)
            row = _read_settlement(books.cursor, interval.index)
            settled_now = True
    seal = seal_interval(engine, interval.interval_id, signing_key)
    return SettlementRead.of(row, settled_now, seal.seal_id)


def _repair_member_accounts(engine: Engine) -> None:
    """Open the wallets of a member whose creation was cut short between its row and its accounts (a crash):
    accounts are opened in their own transactions, so this must happen before the settlement's."""
    with Session(engine) as session:
        incomplete = session.exec(select(Member.member_id).where(
            Member.ngwee_account_id.is_(None) | Member.wh_account_id.is_(None))).all()
    for member_id in incomplete:
        require_member(engine, member_id)


def _write_records(books: Books, plan: SettlementPlan) -> None:
    cursor = books.cursor
    figures = {f.name: getattr(plan.figures, f.name) for f in fields(plan.figures)}
    values = {"interval_index": plan.interval_index, "interval_id": plan.interval_id,
              "settled_at_us": books.timestamp_us, "transfers_count": len(plan.transfers), **figures}
    columns = ", ".join(values)
    cursor.execute(f"INSERT INTO settlement ({columns}) VALUES ({','.join('?' * len(values))})",
                   tuple(values.values()))
    cursor.executemany(
        "INSERT INTO settlement_member (interval_index, member_id, consumption_wh, generation_wh, own_used_wh,"
        " allocation_wh, deficit_wh, surplus_wh, bought_wh, sold_wh, paid_ngwee, received_ngwee, renewable_wh)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [(plan.interval_index, m.member_id, m.consumption_wh, m.generation_wh, m.own_used_wh, m.allocation_wh,
          m.deficit_wh, m.surplus_wh, m.bought_wh, m.sold_wh, m.paid_ngwee, m.received_ngwee, m.renewable_wh)
         for m in plan.members],
    )
    cursor.executemany(
        "INSERT INTO trade (interval_index, trade_number, buy_order_id, sell_order_id, buyer_member_id,"
        " seller_member_id, energy_wh, price_ngwee_per_kwh, cost_ngwee) VALUES (?,?,?,?,?,?,?,?,?)",
        [(plan.interval_index, t.trade_number, t.buy_order_id, t.sell_order_id, t.buyer_member_id,
          t.seller_member_id, t.energy_wh, t.price_ngwee_per_kwh, t.cost_ngwee) for t in plan.trades],
    )
    cursor.executemany(
        "UPDATE market_order SET state = ?, filled_wh = ?, amount_ngwee = ?, reserved = ?, reservation_number = ?,"
        " failure_code = ? WHERE order_id = ?",
        [(u.state, u.filled_wh, u.amount_ngwee, u.reserved, u.reservation_number, u.failure_code, u.order_id)
         for u in plan.order_updates],
    )
    cursor.executemany(
        "INSERT INTO meter_position (meter_id, seq, energy_wh, energy_out_wh, interval_index) VALUES (?,?,?,?,?)"
        " ON CONFLICT(meter_id) DO UPDATE SET seq = excluded.seq, energy_wh = excluded.energy_wh,"
        " energy_out_wh = excluded.energy_out_wh, interval_index = excluded.interval_index",
        [(a.meter_id, a.seq, a.energy_wh, a.energy_out_wh, plan.interval_index) for a in plan.advances],
    )
    # Paired with the plan's own checks: after the payouts, escrow holds nothing but open reservations.
    cursor.execute(
        "SELECT COALESCE(SUM(b.credits_posted - b.debits_posted), 0) FROM ledger_balance b"
        " JOIN ledger_account a ON a.id = b.account_id WHERE a.owner = 'market:escrow'"
    )
    held = cursor.fetchone()[0]
    if held != 0:
        raise SettlementFailedError(f"escrow holds {held} after settling {plan.interval_id}; it must hold 0")


def settle_due(engine: Engine, signing_key: SigningKey, *, now_s: int | None = None,
               pricing: PricingConfig = DEFAULT_PRICING) -> list[SettlementRead]:
    now = int(time.time()) if now_s is None else int(now_s)
    target = last_completed(now)
    with Session(engine) as session:
        last = session.exec(select(Settlement.interval_index).order_by(Settlement.interval_index.desc())).first()
    first = target.index if last is None else last + 1
    first = max(first, target.index - CATCH_UP_INTERVALS_MAX + 1)
    return [settle_interval(engine, Interval(index), signing_key, now_s=now, pricing=pricing)
            for index in range(first, target.index + 1)]


def get_settlement(engine: Engine, interval: Interval) -> SettlementRead:
    with Session(engine) as session:
        row = session.get(Settlement, interval.index)
    if row is None:
        raise NotFoundError("interval_not_settled", f"interval {interval} is not settled")
    return SettlementRead.of(row, False)


def list_settlements(engine: Engine, limit: int = 96) -> list[SettlementRead]:
    limit = check_amount(limit, "limit", 1, PAGE_MAX)
    with Session(engine) as session:
        rows = session.exec(select(Settlement).order_by(Settlement.interval_index.desc()).limit(limit)).all()
    return [SettlementRead.of(row, False) for row in rows]
