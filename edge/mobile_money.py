"""Mobile money: deposits into and withdrawals from members' ZMW wallets, through an operator that answers later.

The flow is an operator's (MTN MoMo / Airtel Money collection and disbursement APIs work this way):
    request_deposit / request_withdrawal → a request `pending` with a reference
    the operator's callback (`handle_callback(reference, status)`) → `succeeded` or `failed` (with a reason)
    no answer within MOBILE_MONEY_TIMEOUT_S → a deposit becomes `timed_out` (`expire_pending`)
- A deposit moves money only on success: system:mobile_money → member (key "mobile_money:<reference>").
  A success arriving after the timeout is still honoured: the customer has paid.
- A withdrawal reserves its amount at once (a pending transfer member → system:mobile_money), so it cannot be
  spent twice while the operator pays out; success posts the reservation, failure voids it. Withdrawals do not
  time out: money may already be on its way, so only the operator's answer resolves them.
- Callbacks are idempotent: the same final status again changes nothing; a different final status for a
  request already resolved is refused (`callback_conflicts`).

`MobileMoneySimulator` stands in for the operator on a gateway without one (and in tests): it decides each
request's fate from a seeded random generator — success, the customer's insufficient balance, a wrong PIN, the
operator's transaction limit, or no answer at all — and delivers the callbacks when `deliver(engine)` is called.
"""

import random
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, func, select

from edge.bookkeeping import LedgerRejection, open_books
from edge.errors import ConflictError, InvalidRequestError, NotFoundError
from edge.intervals import interval_at
from edge.ledger import Transfer, TransferFlags, post_pending_transfer, void_pending_transfer
from edge.limits import (
    MOBILE_MONEY_NGWEE_MAX,
    MOBILE_MONEY_NGWEE_MIN,
    MOBILE_MONEY_PENDING_MAX,
    MOBILE_MONEY_TIMEOUT_S,
)
from edge.members import check_amount, check_request_key, ledger_conflict, require_member
from edge.wallets import NGWEE, system_accounts


class Direction(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


class RequestState(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


FAILURE_REASONS = ("insufficient_balance", "wrong_pin", "limit_exceeded", "declined")


class MobileMoneyRequest(SQLModel, table=True):
    __tablename__ = "mobile_money_request"
    reference: str = Field(primary_key=True)
    member_id: int = Field(foreign_key="member.member_id", index=True)
    direction: str
    amount_ngwee: int
    phone: str
    state: str = Field(index=True)
    reason: str | None = None
    request_key: str | None = Field(default=None, unique=True)
    requested_at_s: int
    resolved_at_s: int | None = None


@dataclass(frozen=True, slots=True)
class MobileMoneyRead:
    reference: str
    member_id: int
    direction: str
    amount_ngwee: int
    phone: str
    state: str
    reason: str | None
    requested_at_s: int
    resolved_at_s: int | None

    @classmethod
    def of(cls, row) -> "MobileMoneyRead":
        return cls(row.reference, row.member_id, row.direction, row.amount_ngwee, row.phone, row.state, row.reason,
                   row.requested_at_s, row.resolved_at_s)


@dataclass(frozen=True, slots=True)
class MobileMoneyCreate:
    member_id: int
    amount_ngwee: int
    request_key: str | None = None


@dataclass(frozen=True, slots=True)
class Callback:
    reference: str
    status: str  # "succeeded" or "failed"
    reason: str | None = None


def _now(now_s: int | None) -> int:
    return int(time.time()) if now_s is None else int(now_s)


def _columns():
    return tuple(MobileMoneyRequest.model_fields)


def _get(cursor, reference: str) -> MobileMoneyRequest | None:
    cursor.execute(f"SELECT {', '.join(_columns())} FROM mobile_money_request WHERE reference = ?", (reference,))
    row = cursor.fetchone()
    return None if row is None else MobileMoneyRequest(**dict(zip(_columns(), row, strict=True)))


def _request(engine: Engine, direction: Direction, request: MobileMoneyCreate, now_s: int | None) -> MobileMoneyRead:
    member = require_member(engine, request.member_id)
    amount = check_amount(request.amount_ngwee, "amount_ngwee", MOBILE_MONEY_NGWEE_MIN, MOBILE_MONEY_NGWEE_MAX)
    request_key = check_request_key(request.request_key)
    now = _now(now_s)
    accounts = system_accounts(engine)
    reference = f"mm-{uuid.uuid4().hex[:20]}"
    try:
        with open_books(engine) as books:
            cursor = books.cursor
            if request_key is not None:
                cursor.execute("SELECT reference FROM mobile_money_request WHERE request_key = ?", (request_key,))
                found = cursor.fetchone()
                if found is not None:
                    earlier = _get(cursor, found[0])
                    if (earlier.member_id, earlier.direction, earlier.amount_ngwee) != (member.member_id,
                                                                                       direction.value, amount):
                        raise ConflictError("request_key_reused", "request_key was used for another request")
                    return MobileMoneyRead.of(earlier)
            cursor.execute("SELECT COUNT(*) FROM mobile_money_request WHERE state = ?", (RequestState.PENDING.value,))
            if cursor.fetchone()[0] >= MOBILE_MONEY_PENDING_MAX:
                raise ConflictError("operator_busy", "too many requests await the operator; try again later")
            if direction is Direction.WITHDRAWAL:
                books.require([Transfer(f"mobile_money:{reference}", member.ngwee_account_id, accounts.mobile_money,
                                        amount, NGWEE, interval_at(now).interval_id, "withdrawal",
                                        TransferFlags.PENDING)])
            cursor.execute(
                "INSERT INTO mobile_money_request (reference, member_id, direction, amount_ngwee, phone, state,"
                " reason, request_key, requested_at_s, resolved_at_s) VALUES (?,?,?,?,?,?,NULL,?,?,NULL)",
                (reference, member.member_id, direction.value, amount, member.phone, RequestState.PENDING.value,
                 request_key, now),
            )
            return MobileMoneyRead.of(_get(cursor, reference))
    except LedgerRejection as err:
        raise ledger_conflict(err) from err


def request_deposit(engine: Engine, request: MobileMoneyCreate, *, now_s: int | None = None) -> MobileMoneyRead:
    return _request(engine, Direction.DEPOSIT, request, now_s)


def request_withdrawal(engine: Engine, request: MobileMoneyCreate, *, now_s: int | None = None) -> MobileMoneyRead:
    return _request(engine, Direction.WITHDRAWAL, request, now_s)


def handle_callback(engine: Engine, callback: Callback, *, now_s: int | None = None) -> MobileMoneyRead:
    """The operator's answer for one request (idempotent; see the module docstring)."""
    if callback.status not in (RequestState.SUCCEEDED, RequestState.FAILED):
        raise InvalidRequestError("status_invalid", "status must be succeeded or failed")
    now = _now(now_s)
    accounts = system_accounts(engine)
    member = require_member(engine, get_request(engine, callback.reference).member_id)  # before the write lock
    with open_books(engine) as books:
        row = _get(books.cursor, callback.reference)
        if row.state == callback.status:
            return MobileMoneyRead.of(row)  # a repeated callback
        late_deposit_success = (row.state == RequestState.TIMED_OUT and row.direction == Direction.DEPOSIT
                                and callback.status == RequestState.SUCCEEDED)
        if row.state != RequestState.PENDING and not late_deposit_success:
            raise ConflictError("callback_conflicts", f"request {row.reference} is already {row.state}")
        key = f"mobile_money:{row.reference}"
        interval_id = interval_at(now).interval_id
        if row.direction == Direction.DEPOSIT:
            if callback.status == RequestState.SUCCEEDED:
                books.require([Transfer(key, accounts.mobile_money, member.ngwee_account_id, row.amount_ngwee, NGWEE,
                                        interval_id, "deposit")])
        elif callback.status == RequestState.SUCCEEDED:
            books.require([post_pending_transfer(f"{key}:paid", key, interval_id=interval_id, kind="withdrawal")])
        else:
            books.require([void_pending_transfer(f"{key}:failed", key, interval_id=interval_id, kind="withdrawal")])
        reason = None if callback.status == RequestState.SUCCEEDED else (callback.reason or "declined")[:40]
        books.cursor.execute("UPDATE mobile_money_request SET state = ?, reason = ?, resolved_at_s = ?"
                             " WHERE reference = ?", (callback.status, reason, now, row.reference))
        return MobileMoneyRead.of(_get(books.cursor, row.reference))


def expire_pending(engine: Engine, *, now_s: int | None = None) -> int:
    """Deposits the operator did not answer within the timeout become `timed_out`; returns how many."""
    now = _now(now_s)
    with open_books(engine) as books:
        books.cursor.execute(
            "UPDATE mobile_money_request SET state = ?, reason = 'no_answer', resolved_at_s = ?"
            " WHERE state = ? AND direction = ? AND requested_at_s <= ?",
            (RequestState.TIMED_OUT.value, now, RequestState.PENDING.value, Direction.DEPOSIT.value,
             now - MOBILE_MONEY_TIMEOUT_S),
        )
        return books.cursor.rowcount


def get_request(engine: Engine, reference: str) -> MobileMoneyRead:
    with Session(engine) as session:
        row = session.get(MobileMoneyRequest, reference)
    if row is None:
        raise NotFoundError("reference_not_found", f"no mobile-money request {reference!r}")
    return MobileMoneyRead.of(row)


def pending_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(MobileMoneyRequest).where(
            MobileMoneyRequest.state == RequestState.PENDING.value)).one()


class MobileMoneySimulator:
    """An operator on the gateway's own machine: decides each request's fate and calls back when asked.

    Fates are drawn per reference from a generator seeded with `seed`, so a run can be replayed: success with
    probability `success_bp`/10,000, no answer with `silent_bp`/10,000, otherwise a failure with one of
    FAILURE_REASONS. `deliver` answers every pending request whose fate is an answer (and may repeat a callback
    once, as real operators do), then expires the deposits left unanswered past the timeout.
    """

    def __init__(self, seed: int = 0, success_bp: int = 8_500, silent_bp: int = 500) -> None:
        if not 0 <= success_bp + silent_bp <= 10_000:
            raise ValueError("success_bp + silent_bp must be within 0..10,000")
        self.seed = seed
        self.success_bp = success_bp
        self.silent_bp = silent_bp

    def fate(self, reference: str) -> Callback | None:
        draw = random.Random(f"{self.seed}:{reference}")
        roll = draw.randrange(10_000)
        if roll < self.success_bp:
            return Callback(reference, RequestState.SUCCEEDED.value)
        if roll < self.success_bp + self.silent_bp:
            return None
        return Callback(reference, RequestState.FAILED.value, draw.choice(FAILURE_REASONS))

    def deliver(self, engine: Engine, *, now_s: int | None = None) -> list[MobileMoneyRead]:
        with Session(engine) as session:
            references = session.exec(select(MobileMoneyRequest.reference).where(
                MobileMoneyRequest.state == RequestState.PENDING.value).order_by(
                MobileMoneyRequest.requested_at_s).limit(MOBILE_MONEY_PENDING_MAX)).all()
        answered = []
        for reference in references:
            callback = self.fate(reference)
            if callback is None:
                continue
            answered.append(handle_callback(engine, callback, now_s=now_s))
            if random.Random(f"{self.seed}:{reference}:repeat").randrange(4) == 0:
                handle_callback(engine, callback, now_s=now_s)  # operators repeat callbacks: must be harmless
        expire_pending(engine, now_s=now_s)
        return answered
