"""Members of the cooperative, their meters, the cluster's shared assets, and contributions to pooled purchases.

- A member is a household, known by its Zambian phone number (`+260` and 9 digits, normalised; unique).
  Creating one opens its two wallets on the ledger (ngwee and Wh, see `edge.wallets`).
- A meter (already registered in `edge.meters` with its key) is linked to the market with a role:
  `consumer` (a member's; its import is the member's consumption), `prosumer` (a member's; import is
  consumption, export is the member's own generation), or `producer` (the cluster's shared solar; its export
  is the shared generation; no member). A meter without a link takes no part in settlement.
- A contribution is one pooled purchase of 2,000–5,000 ZMW, paid from the member's ZMW wallet into the
  cooperative's equipment account; a member's contribution share is the sum of its contributions (ngwee), which
  is its weight in the distribution of the shared generation.
- Cluster assets (solar arrays, inverters, batteries) are recorded with their cost and rated power; the rated
  power of the generating assets is the installation's capacity, which the dynamic price's utilisation uses.

Every function validates first and writes nothing on error (ServiceError subclasses from `edge.errors`).
"""

import time
import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, func, select

from edge.bookkeeping import LedgerRejection, open_books
from edge.errors import ConflictError, InvalidRequestError, NotFoundError
from edge.intervals import interval_at
from edge.ledger import Transfer, TransferResult
from edge.limits import (
    CONTRIBUTION_NGWEE_MAX,
    CONTRIBUTION_NGWEE_MIN,
    CONTRIBUTIONS_PER_MEMBER_MAX,
    MEMBERS_MAX,
    NAME_CHARS_MAX,
    PAGE_MAX,
)
from edge.meters import Meter
from edge.wallets import NGWEE, WalletRead, open_member_accounts, system_accounts, wallet_balances
from enerlectra.phone import PhoneNumberError, normalise_phone

REQUEST_KEY_CHARS_MAX = 64
ASSET_COST_NGWEE_MAX = 10**11  # 1 billion ZMW: far above any cooperative's equipment
RATED_POWER_W_MAX = 100_000_000  # 100 MW


class MeterRole(StrEnum):
    CONSUMER = "consumer"
    PROSUMER = "prosumer"
    PRODUCER = "producer"


class AssetKind(StrEnum):
    SOLAR_ARRAY = "solar_array"
    INVERTER = "inverter"
    BATTERY = "battery"
    OTHER = "other"


GENERATING_KINDS = (AssetKind.SOLAR_ARRAY.value,)


class Member(SQLModel, table=True):
    member_id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(unique=True, index=True)
    name: str = ""
    joined_at_s: int
    ngwee_account_id: int | None = None
    wh_account_id: int | None = None


class MeterLink(SQLModel, table=True):
    __tablename__ = "meter_link"
    meter_id: str = Field(primary_key=True, foreign_key="meter.meter_id")
    member_id: int | None = Field(default=None, foreign_key="member.member_id", index=True)
    role: str


class ClusterAsset(SQLModel, table=True):
    __tablename__ = "cluster_asset"
    asset_id: int | None = Field(default=None, primary_key=True)
    name: str
    kind: str
    cost_ngwee: int
    rated_power_w: int
    added_at_s: int


class Contribution(SQLModel, table=True):
    contribution_id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.member_id", index=True)
    asset_id: int | None = Field(default=None, foreign_key="cluster_asset.asset_id")
    amount_ngwee: int
    transfer_key: str = Field(unique=True)
    request_key: str | None = Field(default=None, unique=True)
    made_at_s: int


@dataclass(frozen=True, slots=True)
class MemberCreate:
    phone: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class MemberRead:
    member_id: int
    phone: str
    name: str
    joined_at_s: int
    share_ngwee: int  # sum of contributions: the member's weight in the distribution
    meters: list[str]


@dataclass(frozen=True, slots=True)
class MeterLinkCreate:
    meter_id: str
    role: str
    member_id: int | None = None


@dataclass(frozen=True, slots=True)
class MeterLinkRead:
    meter_id: str
    member_id: int | None
    role: str


@dataclass(frozen=True, slots=True)
class AssetCreate:
    name: str
    kind: str
    cost_ngwee: int
    rated_power_w: int = 0


@dataclass(frozen=True, slots=True)
class AssetRead:
    asset_id: int
    name: str
    kind: str
    cost_ngwee: int
    rated_power_w: int
    added_at_s: int
    contributed_ngwee: int


@dataclass(frozen=True, slots=True)
class ContributionCreate:
    amount_ngwee: int
    asset_id: int | None = None
    request_key: str | None = None  # the client's idempotency key: a retry returns the first result


@dataclass(frozen=True, slots=True)
class ContributionRead:
    contribution_id: int
    member_id: int
    asset_id: int | None
    amount_ngwee: int
    transfer_key: str
    made_at_s: int


@dataclass(frozen=True, slots=True)
class ClusterRead:
    members_count: int
    shares_total_ngwee: int
    assets_count: int
    assets_cost_ngwee: int
    capacity_w: int  # rated power of the generating assets
    producer_meters: list[str]


def _now_s(now_s: int | None) -> int:
    return int(time.time()) if now_s is None else int(now_s)


def check_amount(value, name: str, low: int, high: int) -> int:
    """`value` as an int within [low, high]; InvalidRequestError naming the rule otherwise (bool/float refused)."""
    if type(value) is not int:
        raise InvalidRequestError(f"{name}_must_be_integer", f"{name} must be a whole number")
    if value < low:
        code = f"{name}_must_be_positive" if low == 1 else f"{name}_too_small"
        raise InvalidRequestError(code, f"{name} must be at least {low}, got {value}")
    if value > high:
        raise InvalidRequestError(f"{name}_too_large", f"{name} must be at most {high}, got {value}")
    return value


def check_request_key(request_key: str | None) -> str | None:
    if request_key is None:
        return None
    if not isinstance(request_key, str) or not 0 < len(request_key) <= REQUEST_KEY_CHARS_MAX \
            or not request_key.isprintable():
        raise InvalidRequestError("request_key_invalid", f"request_key must be 1..{REQUEST_KEY_CHARS_MAX} characters")
    return request_key


def _phone(text: str) -> str:
    try:
        return normalise_phone(text)
    except PhoneNumberError as err:
        raise InvalidRequestError("phone_invalid", str(err)) from err


# --- members -----------------------------------------------------------------------------------------------


def add_member(engine: Engine, request: MemberCreate, *, now_s: int | None = None) -> MemberRead:
    phone = _phone(request.phone)
    name = (request.name or "").strip()
    if len(name) > NAME_CHARS_MAX or not name.isprintable():
        raise InvalidRequestError("name_invalid", f"name must be at most {NAME_CHARS_MAX} printable characters")
    with Session(engine) as session:
        if session.exec(select(Member.member_id).where(Member.phone == phone)).first() is not None:
            raise ConflictError("phone_already_registered", f"a member with phone {phone} already exists")
        if session.exec(select(func.count()).select_from(Member)).one() >= MEMBERS_MAX:
            raise ConflictError("cluster_full", f"a cluster has at most {MEMBERS_MAX} members")
        member = Member(phone=phone, name=name, joined_at_s=_now_s(now_s))
        session.add(member)
        session.commit()
        member_id = member.member_id
    _ensure_accounts(engine, member_id)
    return get_member(engine, member_id)


def _ensure_accounts(engine: Engine, member_id: int) -> tuple[int, int]:
    """Open the member's wallets (idempotent) and record their ids; repairs a crash between insert and open."""
    ngwee_id, wh_id = open_member_accounts(engine, member_id)
    with Session(engine) as session:
        member = session.get(Member, member_id)
        if member.ngwee_account_id != ngwee_id or member.wh_account_id != wh_id:
            member.ngwee_account_id, member.wh_account_id = ngwee_id, wh_id
            session.add(member)
            session.commit()
    return ngwee_id, wh_id


@dataclass(frozen=True, slots=True)
class MemberAccounts:
    member_id: int
    phone: str
    ngwee_account_id: int
    wh_account_id: int


def require_member(engine: Engine, member_id) -> MemberAccounts:
    """The member and its wallets' account ids; NotFoundError for an unknown member."""
    if type(member_id) is not int or member_id <= 0:
        raise InvalidRequestError("member_id_invalid", "member_id must be a positive whole number")
    with Session(engine) as session:
        member = session.get(Member, member_id)
        if member is None:
            raise NotFoundError("member_not_found", f"no member {member_id}")
        phone, ngwee_id, wh_id = member.phone, member.ngwee_account_id, member.wh_account_id
    if ngwee_id is None or wh_id is None:
        ngwee_id, wh_id = _ensure_accounts(engine, member_id)
    return MemberAccounts(member_id, phone, ngwee_id, wh_id)


def get_member(engine: Engine, member_id: int) -> MemberRead:
    require_member(engine, member_id)
    with Session(engine) as session:
        member = session.get(Member, member_id)
        share = session.exec(
            select(func.coalesce(func.sum(Contribution.amount_ngwee), 0)).where(Contribution.member_id == member_id)
        ).one()
        meters = session.exec(
            select(MeterLink.meter_id).where(MeterLink.member_id == member_id).order_by(MeterLink.meter_id)
        ).all()
        return MemberRead(member.member_id, member.phone, member.name, member.joined_at_s, share, list(meters))


def find_member_by_phone(engine: Engine, phone: str) -> MemberRead:
    normalised = _phone(phone)
    with Session(engine) as session:
        member_id = session.exec(select(Member.member_id).where(Member.phone == normalised)).first()
    if member_id is None:
        raise NotFoundError("member_not_found", f"no member with phone {normalised}")
    return get_member(engine, member_id)


def list_members(engine: Engine, limit: int = PAGE_MAX, after_member_id: int = 0) -> list[MemberRead]:
    limit = check_amount(limit, "limit", 1, PAGE_MAX)
    with Session(engine) as session:
        members = session.exec(
            select(Member).where(Member.member_id > after_member_id).order_by(Member.member_id).limit(limit)
        ).all()
        member_ids = [member.member_id for member in members]
        shares = dict(
            session.exec(
                select(Contribution.member_id, func.sum(Contribution.amount_ngwee))
                .where(Contribution.member_id.in_(member_ids))
                .group_by(Contribution.member_id)
            ).all()
        )
        meters: dict[int, list[str]] = {}
        for meter_id, member_id in session.exec(
            select(MeterLink.meter_id, MeterLink.member_id).where(MeterLink.member_id.in_(member_ids))
        ).all():
            meters.setdefault(member_id, []).append(meter_id)
        return [
            MemberRead(m.member_id, m.phone, m.name, m.joined_at_s, shares.get(m.member_id, 0),
                       sorted(meters.get(m.member_id, [])))
            for m in members
        ]


def member_wallet(engine: Engine, member_id: int) -> WalletRead:
    member = require_member(engine, member_id)
    ngwee, wh = wallet_balances(engine, member.ngwee_account_id, member.wh_account_id)
    return WalletRead(member.member_id, member.phone, ngwee, wh)


# --- meters ------------------------------------------------------------------------------------------------


def link_meter(engine: Engine, request: MeterLinkCreate) -> MeterLinkRead:
    """Link a registered meter to the market. A consumer or prosumer meter belongs to a member; a producer
    meter (shared solar) to the cluster. A meter is linked once; ConflictError when it already is."""
    try:
        role = MeterRole(request.role)
    except ValueError as err:
        raise InvalidRequestError("role_invalid", "role must be consumer, prosumer or producer") from err
    if role is MeterRole.PRODUCER and request.member_id is not None:
        raise InvalidRequestError("producer_has_no_member", "a producer meter is the cluster's, not a member's")
    if role is not MeterRole.PRODUCER:
        if request.member_id is None:
            raise InvalidRequestError("member_id_required", f"a {role.value} meter belongs to a member")
        require_member(engine, request.member_id)
    with Session(engine) as session:
        if session.get(Meter, request.meter_id) is None:
            raise NotFoundError("meter_not_found", f"no registered meter {request.meter_id!r}")
        existing = session.get(MeterLink, request.meter_id)
        if existing is not None:
            raise ConflictError("meter_already_linked", f"meter {request.meter_id!r} is already linked "
                                f"({existing.role}{'' if existing.member_id is None else ' of member '}"
                                f"{'' if existing.member_id is None else existing.member_id})")
        link = MeterLink(meter_id=request.meter_id, member_id=request.member_id, role=role.value)
        session.add(link)
        session.commit()
        return MeterLinkRead(link.meter_id, link.member_id, link.role)


def list_meter_links(engine: Engine) -> list[MeterLinkRead]:
    with Session(engine) as session:
        return [MeterLinkRead(link.meter_id, link.member_id, link.role)
                for link in session.exec(select(MeterLink).order_by(MeterLink.meter_id))]


def member_of_meter(engine: Engine, meter_id: str) -> MeterLinkRead:
    with Session(engine) as session:
        link = session.get(MeterLink, meter_id)
    if link is None:
        raise NotFoundError("meter_not_linked", f"meter {meter_id!r} is not linked to the market")
    return MeterLinkRead(link.meter_id, link.member_id, link.role)


# --- assets and contributions ------------------------------------------------------------------------------


def add_asset(engine: Engine, request: AssetCreate, *, now_s: int | None = None) -> AssetRead:
    name = (request.name or "").strip()
    if not name or len(name) > NAME_CHARS_MAX or not name.isprintable():
        raise InvalidRequestError("name_invalid", f"name must be 1..{NAME_CHARS_MAX} printable characters")
    try:
        kind = AssetKind(request.kind)
    except ValueError as err:
        raise InvalidRequestError("kind_invalid", "kind must be solar_array, inverter, battery or other") from err
    cost = check_amount(request.cost_ngwee, "cost_ngwee", 1, ASSET_COST_NGWEE_MAX)
    rated = check_amount(request.rated_power_w, "rated_power_w", 0, RATED_POWER_W_MAX)
    with Session(engine) as session:
        asset = ClusterAsset(name=name, kind=kind.value, cost_ngwee=cost, rated_power_w=rated,
                             added_at_s=_now_s(now_s))
        session.add(asset)
        session.commit()
        return AssetRead(asset.asset_id, name, kind.value, cost, rated, asset.added_at_s, 0)


def list_assets(engine: Engine) -> list[AssetRead]:
    with Session(engine) as session:
        contributed = dict(session.exec(
            select(Contribution.asset_id, func.sum(Contribution.amount_ngwee)).group_by(Contribution.asset_id)
        ).all())
        return [AssetRead(a.asset_id, a.name, a.kind, a.cost_ngwee, a.rated_power_w, a.added_at_s,
                          contributed.get(a.asset_id, 0))
                for a in session.exec(select(ClusterAsset).order_by(ClusterAsset.asset_id))]


def capacity_w(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.coalesce(func.sum(ClusterAsset.rated_power_w), 0)).where(
                ClusterAsset.kind.in_(GENERATING_KINDS))
        ).one()


def contribute(engine: Engine, member_id: int, request: ContributionCreate, *,
               now_s: int | None = None) -> ContributionRead:
    """Pay one pooled-purchase contribution from the member's ZMW wallet to the cooperative's equipment account.

    A retry with the same `request_key` returns the first contribution and pays nothing again.
    """
    member = require_member(engine, member_id)
    amount = check_amount(request.amount_ngwee, "amount_ngwee", CONTRIBUTION_NGWEE_MIN, CONTRIBUTION_NGWEE_MAX)
    request_key = check_request_key(request.request_key)
    now = _now_s(now_s)
    with Session(engine) as session:
        if request.asset_id is not None and session.get(ClusterAsset, request.asset_id) is None:
            raise NotFoundError("asset_not_found", f"no cluster asset {request.asset_id}")
        if request_key is not None:
            earlier = session.exec(select(Contribution).where(Contribution.request_key == request_key)).first()
            if earlier is not None:
                if (earlier.member_id, earlier.amount_ngwee, earlier.asset_id) != (member_id, amount,
                                                                                    request.asset_id):
                    raise ConflictError("request_key_reused", "request_key was used for another contribution")
                return _contribution_read(earlier)
        count = session.exec(select(func.count()).select_from(Contribution).where(
            Contribution.member_id == member_id)).one()
        if count >= CONTRIBUTIONS_PER_MEMBER_MAX:
            raise ConflictError("contributions_limit", f"at most {CONTRIBUTIONS_PER_MEMBER_MAX} contributions each")
    accounts = system_accounts(engine)
    transfer_key = f"contribution:{member_id}:{request_key or uuid.uuid4().hex}"
    transfer = Transfer(transfer_key, member.ngwee_account_id, accounts.cluster_equipment, amount, NGWEE,
                        interval_at(now).interval_id, "contribution")
    try:
        with open_books(engine) as books:
            books.require([transfer])
            books.cursor.execute(
                "INSERT INTO contribution (member_id, asset_id, amount_ngwee, transfer_key, request_key, made_at_s)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (member_id, request.asset_id, amount, transfer_key, request_key, now),
            )
            contribution_id = books.cursor.lastrowid
    except LedgerRejection as err:
        raise ledger_conflict(err) from err
    return ContributionRead(contribution_id, member_id, request.asset_id, amount, transfer_key, now)


def _contribution_read(row: Contribution) -> ContributionRead:
    return ContributionRead(row.contribution_id, row.member_id, row.asset_id, row.amount_ngwee, row.transfer_key,
                            row.made_at_s)


def list_contributions(engine: Engine, member_id: int) -> list[ContributionRead]:
    require_member(engine, member_id)
    with Session(engine) as session:
        return [_contribution_read(row) for row in session.exec(
            select(Contribution).where(Contribution.member_id == member_id).order_by(Contribution.contribution_id))]


def cluster_summary(engine: Engine) -> ClusterRead:
    with Session(engine) as session:
        members_count = session.exec(select(func.count()).select_from(Member)).one()
        shares = session.exec(select(func.coalesce(func.sum(Contribution.amount_ngwee), 0))).one()
        assets = session.exec(select(func.count(), func.coalesce(func.sum(ClusterAsset.cost_ngwee), 0))).one()
        producers = session.exec(select(MeterLink.meter_id).where(
            MeterLink.role == MeterRole.PRODUCER.value).order_by(MeterLink.meter_id)).all()
    return ClusterRead(members_count, shares, assets[0], assets[1], capacity_w(engine), list(producers))


def ledger_conflict(err: LedgerRejection) -> ConflictError:
    """A rejected wallet transfer as the user should hear it."""
    if err.result is TransferResult.INSUFFICIENT_FUNDS:
        return ConflictError("insufficient_funds", "not enough in the wallet for this")
    return ConflictError(err.result.value, f"the ledger refused the transfer: {err.result.value}")
