"""Prepaid credit: a member buys kWh for one of its meters, paid from its wallet, delivered as a signed credit grant
or, for a meter the gateway cannot reach, as an OpenPAYGO token the household types in.

buy_credit(engine, signing_key, PurchaseCreate, now_s=None) -> PurchaseRead
    Pays from the ZMW wallet at the current price (`pay_from="ngwee"`: cost = ceil(Wh × price / 1000) ngwee into
    cluster:revenue, and the cooperative's energy → system:meter_credit), or from the kWh wallet (`pay_from="wh"`:
    the member's Wh → system:meter_credit). The transfers, the purchase row and (for tokens) the token and the
    meter's token counter commit in one transaction. A grant is then issued with `edge.grants.issue_grant`, keyed
    by the purchase's transfer key, so a retry never credits twice; a retry with the same `request_key` returns
    the first purchase (and issues its grant if a crash came between the payment and the grant).
    Refused with nothing written: unknown member or meter, a meter that is not the member's, a bad amount,
    insufficient funds, a token for a meter without an OpenPAYGO secret, a token amount that is not whole
    100 Wh units or above 99.5 kWh.
bulk_buy_credit(...) -> list[PurchaseResult]: up to 30 purchases, each reported on its own.
provision_openpaygo(engine, meter_id, secret_key_hex=None) -> OpenPaygoDeviceRead
    The meter's 16-byte OpenPAYGO secret (generated when not given) and token counter. The same secret is written
    into the meter's config.json (`openpaygo_key`), where its decoder (firmware/meter/openpaygo.py) uses it.

OpenPAYGO tokens: standard 9-digit ADD_TIME tokens (the `openpaygo` library), value = credit in units of
100 Wh (0.1 kWh; so 1..995 units = 0.1..99.5 kWh), starting code derived from the secret (the library's
default), counter per meter strictly increasing (the library's own even/odd rule for ADD_TIME).
"""

import os
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum

from nacl.signing import SigningKey
from openpaygo import TokenType, generate_token
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from edge.bookkeeping import LedgerRejection, open_books
from edge.errors import ConflictError, InvalidRequestError, NotFoundError, ServiceError
from edge.grants import GrantError, issue_grant
from edge.intervals import interval_at
from edge.ledger import Transfer, TransferFlags
from edge.limits import BULK_PURCHASES_MAX, OPENPAYGO_UNITS_MAX, OPENPAYGO_WH_PER_UNIT, PREPAID_WH_MAX
from edge.members import (
    MeterRole,
    check_amount,
    check_request_key,
    ledger_conflict,
    member_of_meter,
    require_member,
)
from edge.meters import Meter
from edge.settlement.history import prepaid_price
from edge.wallets import NGWEE, WH, system_accounts

OPENPAYGO_SECRET_BYTES = 16
WH_PER_KWH = 1_000


class PaySource(StrEnum):
    NGWEE = "ngwee"  # the ZMW wallet, at the current price
    WH = "wh"  # the kWh wallet, Wh for Wh


class Delivery(StrEnum):
    GRANT = "grant"  # a signed credit grant the meter fetches over CoAP
    OPENPAYGO = "openpaygo"  # a 9-digit token typed on the meter's keypad


class PrepaidPurchase(SQLModel, table=True):
    __tablename__ = "prepaid_purchase"
    purchase_key: str = Field(primary_key=True)
    member_id: int = Field(foreign_key="member.member_id", index=True)
    meter_id: str = Field(foreign_key="meter.meter_id")
    energy_wh: int
    price_ngwee_per_kwh: int | None = None  # None when paid from the kWh wallet
    cost_ngwee: int
    pay_from: str
    delivery: str
    grant_id: int | None = None
    token: str | None = None
    token_count: int | None = None
    request_key: str | None = Field(default=None, unique=True)
    created_at_s: int


class OpenPaygoDevice(SQLModel, table=True):
    __tablename__ = "openpaygo_device"
    meter_id: str = Field(primary_key=True, foreign_key="meter.meter_id")
    secret_key_hex: str
    count: int  # the counter of the last token issued (the starting count before any)
    provisioned_at_s: int


@dataclass(frozen=True, slots=True)
class PurchaseCreate:
    member_id: int
    meter_id: str
    energy_wh: int
    pay_from: str = PaySource.NGWEE.value
    delivery: str = Delivery.GRANT.value
    request_key: str | None = None  # the client's idempotency key: a retry returns the first purchase


@dataclass(frozen=True, slots=True)
class PurchaseRead:
    purchase_key: str
    member_id: int
    meter_id: str
    energy_wh: int
    price_ngwee_per_kwh: int | None
    cost_ngwee: int
    pay_from: str
    delivery: str
    grant_id: int | None
    token: str | None
    created_at_s: int

    @classmethod
    def of(cls, row: PrepaidPurchase) -> "PurchaseRead":
        return cls(row.purchase_key, row.member_id, row.meter_id, row.energy_wh, row.price_ngwee_per_kwh,
                   row.cost_ngwee, row.pay_from, row.delivery, row.grant_id, row.token, row.created_at_s)


@dataclass(frozen=True, slots=True)
class PurchaseResult:
    index: int
    ok: bool
    purchase: PurchaseRead | None = None
    code: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class OpenPaygoDeviceRead:
    meter_id: str
    secret_key_hex: str
    count: int


def cost_of(energy_wh: int, price_ngwee_per_kwh: int) -> int:
    """Rounded up: the cooperative never sells a fraction of a ngwee below its price."""
    return -(-energy_wh * price_ngwee_per_kwh // WH_PER_KWH)


def provision_openpaygo(engine: Engine, meter_id: str, secret_key_hex: str | None = None, *,
                        now_s: int | None = None) -> OpenPaygoDeviceRead:
    if secret_key_hex is None:
        secret_key_hex = os.urandom(OPENPAYGO_SECRET_BYTES).hex()
    try:
        secret = bytes.fromhex(secret_key_hex)
    except (TypeError, ValueError) as err:
        raise InvalidRequestError("secret_key_invalid", "secret_key_hex must be hexadecimal") from err
    if len(secret) != OPENPAYGO_SECRET_BYTES:
        raise InvalidRequestError("secret_key_invalid", f"an OpenPAYGO secret is {OPENPAYGO_SECRET_BYTES} bytes")
    with Session(engine) as session:
        if session.get(Meter, meter_id) is None:
            raise NotFoundError("meter_not_found", f"no registered meter {meter_id!r}")
        existing = session.get(OpenPaygoDevice, meter_id)
        if existing is not None:
            if existing.secret_key_hex != secret.hex():
                raise ConflictError("openpaygo_already_provisioned", f"meter {meter_id!r} already has a secret")
            return OpenPaygoDeviceRead(meter_id, existing.secret_key_hex, existing.count)
        device = OpenPaygoDevice(meter_id=meter_id, secret_key_hex=secret.hex(), count=0,
                                 provisioned_at_s=int(time.time()) if now_s is None else now_s)
        session.add(device)
        session.commit()
        return OpenPaygoDeviceRead(meter_id, device.secret_key_hex, device.count)


def _check(engine: Engine, request: PurchaseCreate):
    member = require_member(engine, request.member_id)
    link = member_of_meter(engine, request.meter_id)
    if link.role == MeterRole.PRODUCER or link.member_id != member.member_id:
        raise ConflictError("meter_not_members", f"meter {request.meter_id!r} is not a meter of member "
                            f"{member.member_id}")
    energy_wh = check_amount(request.energy_wh, "energy_wh", 1, PREPAID_WH_MAX)
    try:
        pay_from = PaySource(request.pay_from)
        delivery = Delivery(request.delivery)
    except ValueError as err:
        raise InvalidRequestError("purchase_option_invalid", "pay_from is ngwee or wh; delivery is grant or "
                                  "openpaygo") from err
    if delivery is Delivery.OPENPAYGO:
        units, rest = divmod(energy_wh, OPENPAYGO_WH_PER_UNIT)
        if rest or units > OPENPAYGO_UNITS_MAX:
            raise InvalidRequestError("token_amount_invalid", f"a token carries whole {OPENPAYGO_WH_PER_UNIT} Wh"
                                      f" units, at most {OPENPAYGO_UNITS_MAX * OPENPAYGO_WH_PER_UNIT} Wh")
    return member, energy_wh, pay_from, delivery, check_request_key(request.request_key)


def _deliver_grant(engine: Engine, signing_key: SigningKey, row: PrepaidPurchase) -> PrepaidPurchase:
    try:
        grant = issue_grant(engine, signing_key, row.meter_id, row.energy_wh, row.purchase_key)
    except GrantError as err:  # paid, but not yet granted: a retry with the same request_key grants it
        raise ConflictError("grant_not_issued", f"paid, but the grant could not be issued yet ({err}); "
                            "retry with the same request_key") from err
    with Session(engine) as session:
        stored = session.get(PrepaidPurchase, row.purchase_key)
        stored.grant_id = grant.grant_id
        session.add(stored)
        session.commit()
        session.refresh(stored)
        return stored


def buy_credit(engine: Engine, signing_key: SigningKey, request: PurchaseCreate, *,
               now_s: int | None = None) -> PurchaseRead:
    member, energy_wh, pay_from, delivery, request_key = _check(engine, request)
    now = int(time.time()) if now_s is None else int(now_s)
    if request_key is not None:
        with Session(engine) as session:
            earlier = session.exec(select(PrepaidPurchase).where(PrepaidPurchase.request_key == request_key)).first()
        if earlier is not None:
            if (earlier.member_id, earlier.meter_id, earlier.energy_wh, earlier.pay_from, earlier.delivery) != (
                    member.member_id, request.meter_id, energy_wh, pay_from.value, delivery.value):
                raise ConflictError("request_key_reused", "request_key was used for another purchase")
            if earlier.delivery == Delivery.GRANT and earlier.grant_id is None:
                earlier = _deliver_grant(engine, signing_key, earlier)
            return PurchaseRead.of(earlier)
    accounts = system_accounts(engine)
    interval_id = interval_at(now).interval_id
    key = f"prepaid:{member.member_id}:{request_key or uuid.uuid4().hex}"
    if pay_from is PaySource.NGWEE:
        price = prepaid_price(engine)
        cost = cost_of(energy_wh, price)
        transfers = [
            Transfer(f"{key}:ngwee", member.ngwee_account_id, accounts.cluster_revenue, cost, NGWEE, interval_id,
                     "prepaid", TransferFlags.LINKED),
            Transfer(key, accounts.cluster_energy, accounts.meter_credit, energy_wh, WH, interval_id, "prepaid"),
        ]
    else:
        price, cost = None, 0
        transfers = [Transfer(key, member.wh_account_id, accounts.meter_credit, energy_wh, WH, interval_id,
                              "prepaid")]
    try:
        with open_books(engine) as books:
            books.require(transfers)
            token = count = None
            if delivery is Delivery.OPENPAYGO:
                token, count = _next_token(books.cursor, request.meter_id, energy_wh // OPENPAYGO_WH_PER_UNIT)
            books.cursor.execute(
                "INSERT INTO prepaid_purchase (purchase_key, member_id, meter_id, energy_wh, price_ngwee_per_kwh,"
                " cost_ngwee, pay_from, delivery, grant_id, token, token_count, request_key, created_at_s)"
                " VALUES (?,?,?,?,?,?,?,?,NULL,?,?,?,?)",
                (key, member.member_id, request.meter_id, energy_wh, price, cost, pay_from.value, delivery.value,
                 token, count, request_key, now),
            )
    except LedgerRejection as err:
        raise ledger_conflict(err) from err
    with Session(engine) as session:
        row = session.get(PrepaidPurchase, key)
    if delivery is Delivery.GRANT:
        row = _deliver_grant(engine, signing_key, row)
    return PurchaseRead.of(row)


def _next_token(cursor, meter_id: str, units: int) -> tuple[str, int]:
    cursor.execute("SELECT secret_key_hex, count FROM openpaygo_device WHERE meter_id = ?", (meter_id,))
    device = cursor.fetchone()
    if device is None:
        raise ConflictError("openpaygo_not_provisioned", f"meter {meter_id!r} has no OpenPAYGO secret; "
                            "provision one first")
    secret_key_hex, count = device
    new_count, token = generate_token(secret_key=secret_key_hex, count=count, value=units,
                                      token_type=TokenType.ADD_TIME)
    cursor.execute("UPDATE openpaygo_device SET count = ? WHERE meter_id = ?", (new_count, meter_id))
    return token, new_count


def bulk_buy_credit(engine: Engine, signing_key: SigningKey, requests: list[PurchaseCreate], *,
                    now_s: int | None = None) -> list[PurchaseResult]:
    """Up to 30 purchases; each is paid, stored and granted on its own, and reported in request order."""
    if len(requests) > BULK_PURCHASES_MAX:
        raise InvalidRequestError("bulk_too_large", f"a bulk request holds at most {BULK_PURCHASES_MAX} purchases")
    if not requests:
        raise InvalidRequestError("bulk_empty", "a bulk request needs at least one purchase")
    results = []
    for index, request in enumerate(requests):
        try:
            results.append(PurchaseResult(index, True, buy_credit(engine, signing_key, request, now_s=now_s)))
        except ServiceError as err:
            results.append(PurchaseResult(index, False, code=err.code, detail=str(err)))
    return results


def get_purchase(engine: Engine, purchase_key: str) -> PurchaseRead:
    with Session(engine) as session:
        row = session.get(PrepaidPurchase, purchase_key)
    if row is None:
        raise NotFoundError("purchase_not_found", f"no purchase {purchase_key!r}")
    return PurchaseRead.of(row)


def list_purchases(engine: Engine, member_id: int, limit: int = 100) -> list[PurchaseRead]:
    require_member(engine, member_id)
    with Session(engine) as session:
        rows = session.exec(select(PrepaidPurchase).where(PrepaidPurchase.member_id == member_id)
                            .order_by(PrepaidPurchase.created_at_s.desc()).limit(limit)).all()
    return [PurchaseRead.of(row) for row in rows]
