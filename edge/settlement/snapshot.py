"""The frozen snapshot of one interval, read inside the settlement's write transaction (so nothing moves under it).

What is read (a few set-oriented queries, no per-row ORM, for clusters of 10,000 members):
- Per linked meter, the counters of its last reading at or before the interval's end, among the readings after
  the meter's settled position (`meter_position`). The interval's energy of a meter is that reading minus the
  position. A meter never settled before starts from its last reading at or before the interval's start, or —
  when it has none — from its first reading inside the interval (so it contributes from that reading on).
  A counter that went down (meter replaced or reset) contributes 0 and restarts from the new value; a delta
  above the market's per-interval bound is clamped to it.
- Consumption = imported energy (`energy_wh`) of consumer and prosumer meters; a prosumer's own generation =
  its exported energy (`energy_out_wh`); the cluster's shared generation = exported energy of producer meters.
- Members with any figure, with their contribution share; every order standing in the interval (open, or
  scheduled and due) with its member's wallets; the available balances the due scheduled orders will reserve
  from; the installation's rated capacity.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from edge.intervals import Interval
from edge.limits import INTERVAL_S
from edge.market import PricingConfig
from edge.market import limits as market_limits
from edge.members import GENERATING_KINDS, MeterRole
from edge.orders import OrderState
from edge.wallets import SystemAccounts

SECONDS_PER_HOUR = 3_600
ENERGY_WH_MAX = market_limits.energy_wh_per_interval_max


@dataclass(frozen=True, slots=True)
class MemberFigures:
    member_id: int
    ngwee_account: int
    wh_account: int
    share_ngwee: int
    consumption_wh: int
    generation_wh: int


@dataclass(frozen=True, slots=True)
class MeterAdvance:
    """Where a meter's settled position moves to: its last reading counted in this interval."""

    meter_id: str
    seq: int
    energy_wh: int
    energy_out_wh: int


@dataclass(frozen=True, slots=True)
class StandingOrder:
    order_id: int
    member_id: int
    ngwee_account: int
    wh_account: int
    side: str
    energy_wh: int
    limit_price_ngwee_per_kwh: int
    max_cost_ngwee: int | None
    state: str  # open, or scheduled (due in this interval: it reserves now)
    last_interval: int
    filled_wh: int
    amount_ngwee: int
    reserved: int
    reservation_number: int


@dataclass(frozen=True, slots=True)
class IntervalSnapshot:
    interval: Interval
    accounts: SystemAccounts
    members: tuple[MemberFigures, ...]  # by member id; only members with consumption or generation
    shared_generation_wh: int
    capacity_wh: int  # rated output of the generating assets over the interval; 0 when none is recorded
    orders: tuple[StandingOrder, ...]  # by order id (time priority)
    available: Mapping[int, int]  # account id → available balance, for the due scheduled orders' wallets
    advances: tuple[MeterAdvance, ...]
    pricing: PricingConfig


_METERS = (
    "SELECT l.meter_id, l.member_id, l.role, p.seq, p.energy_wh, p.energy_out_wh, e.seq, e.energy_wh,"
    " e.energy_out_wh"
    " FROM meter_link l"
    " LEFT JOIN meter_position p ON p.meter_id = l.meter_id"
    " LEFT JOIN reading e ON e.meter_id = l.meter_id AND e.seq = ("
    "   SELECT MAX(r.seq) FROM reading r"
    "   WHERE r.meter_id = l.meter_id AND r.seq > COALESCE(p.seq, -1) AND r.time_s <= ?)"
)
_BASELINE_BEFORE = (
    "SELECT energy_wh, energy_out_wh FROM reading WHERE meter_id = ? AND time_s <= ? ORDER BY seq DESC LIMIT 1"
)
_BASELINE_FIRST = (
    "SELECT energy_wh, energy_out_wh FROM reading WHERE meter_id = ? AND time_s > ? AND time_s <= ?"
    " ORDER BY seq LIMIT 1"
)
_MEMBERS = (
    "SELECT m.member_id, m.ngwee_account_id, m.wh_account_id, COALESCE(c.share, 0) FROM member m"
    " LEFT JOIN (SELECT member_id, SUM(amount_ngwee) AS share FROM contribution GROUP BY member_id) c"
    " ON c.member_id = m.member_id ORDER BY m.member_id"
)
_ORDERS = (
    "SELECT o.order_id, o.member_id, m.ngwee_account_id, m.wh_account_id, o.side, o.energy_wh,"
    " o.limit_price_ngwee_per_kwh, o.max_cost_ngwee, o.state, o.last_interval, o.filled_wh, o.amount_ngwee,"
    " o.reserved, o.reservation_number"
    " FROM market_order o JOIN member m ON m.member_id = o.member_id"
    " WHERE o.state IN (?, ?) AND o.first_interval <= ? ORDER BY o.order_id"
)


def _delta(end: int, start: int) -> int:
    return min(max(end - start, 0), ENERGY_WH_MAX)


def read_snapshot(books, interval: Interval, accounts: SystemAccounts, pricing: PricingConfig) -> IntervalSnapshot:
    cursor = books.cursor
    cursor.execute(_METERS, (interval.end_s,))
    meter_rows = cursor.fetchall()
    consumption: dict[int, int] = {}
    generation: dict[int, int] = {}
    shared_wh = 0
    advances = []
    for meter_id, member_id, role, p_seq, p_in, p_out, e_seq, e_in, e_out in meter_rows:
        if e_seq is None:
            continue  # nothing new up to the interval's end
        if p_seq is None:
            cursor.execute(_BASELINE_BEFORE, (meter_id, interval.start_s))
            baseline = cursor.fetchone()
            if baseline is None:
                cursor.execute(_BASELINE_FIRST, (meter_id, interval.start_s, interval.end_s))
                baseline = cursor.fetchone()
            p_in, p_out = baseline
        advances.append(MeterAdvance(meter_id, e_seq, e_in, e_out))
        imported, exported = _delta(e_in, p_in), _delta(e_out, p_out)
        if role == MeterRole.PRODUCER:
            shared_wh += exported
            continue
        consumption[member_id] = consumption.get(member_id, 0) + imported
        if role == MeterRole.PROSUMER:
            generation[member_id] = generation.get(member_id, 0) + exported

    cursor.execute(_MEMBERS)
    members = tuple(
        MemberFigures(member_id, ngwee, wh, share, min(consumption.get(member_id, 0), ENERGY_WH_MAX),
                      min(generation.get(member_id, 0), ENERGY_WH_MAX))
        for member_id, ngwee, wh, share in cursor.fetchall()
        if consumption.get(member_id, 0) or generation.get(member_id, 0)
    )

    cursor.execute(_ORDERS, (OrderState.OPEN.value, OrderState.SCHEDULED.value, interval.index))
    orders = tuple(StandingOrder(*row) for row in cursor.fetchall())
    scheduled_accounts = set()
    for order in orders:
        if order.state == OrderState.SCHEDULED:
            scheduled_accounts.update((order.ngwee_account, order.wh_account))
    available = books.available(scheduled_accounts) if scheduled_accounts else {}

    placeholders = ",".join("?" * len(GENERATING_KINDS))
    cursor.execute(f"SELECT COALESCE(SUM(rated_power_w), 0) FROM cluster_asset WHERE kind IN ({placeholders})",
                   GENERATING_KINDS)
    capacity_wh = cursor.fetchone()[0] * INTERVAL_S // SECONDS_PER_HOUR
    return IntervalSnapshot(
        interval=interval,
        accounts=accounts,
        members=members,
        shared_generation_wh=min(shared_wh, ENERGY_WH_MAX),
        capacity_wh=capacity_wh,
        orders=orders,
        available=MappingProxyType(dict(available)),
        advances=tuple(advances),
        pricing=pricing,
    )
