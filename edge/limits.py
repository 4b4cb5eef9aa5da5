"""Bounds of the gateway's cooperative services (members, wallets, orders, prepaid, settlement), checked at import.

Money is int ngwee (1 ZMW = 100 ngwee), energy int Wh, prices int ngwee per kWh. Anything outside these bounds
is refused with a clear error before anything is written. The market's own bounds are in `edge.market.limits`
and the ledger's in `edge.ledger.limits`; the relations between the three sets are checked here.
"""

from edge.ledger.limits import AMOUNT_MAX
from edge.market import limits as market_limits
from enerlectra.downlink import CREDIT_WH_MAX
from enerlectra.invariant import invariant

# The settlement interval: 15 minutes. Interval ids carry the length ("/15m"), so a change would never be
# confused with the old intervals.
INTERVAL_S = 900

# Pooled purchases: each contribution to the cluster's shared equipment is 2,000–5,000 ZMW (the product seed).
CONTRIBUTION_NGWEE_MIN = 200_000
CONTRIBUTION_NGWEE_MAX = 500_000
# Contributions per member: with 5,000 ZMW each, 100 contributions is 500,000 ZMW — far above any household.
CONTRIBUTIONS_PER_MEMBER_MAX = 100

# Members of one cluster: the market is sized (and benchmarked) for this many.
MEMBERS_MAX = market_limits.cluster_members_max
NAME_CHARS_MAX = 80

# Mobile money: one deposit or withdrawal is 1 ZMW .. 10,000 ZMW (typical operator per-transaction limits).
MOBILE_MONEY_NGWEE_MIN = 100
MOBILE_MONEY_NGWEE_MAX = 1_000_000
MOBILE_MONEY_PENDING_MAX = 10_000  # requests awaiting the operator, gateway-wide
MOBILE_MONEY_TIMEOUT_S = 120  # the operator's answer must come within this, or the request times out

# Orders. One order moves at most 1 MWh (a household uses ~5 kWh a day); prices stay within the market's bound.
ORDER_WH_MAX = 1_000_000
ORDER_PRICE_NGWEE_PER_KWH_MAX = market_limits.price_ngwee_per_kwh_max
ORDER_INTERVALS_MAX = 96  # an order stands for at most one day of intervals
ORDERS_ACTIVE_PER_MEMBER_MAX = 20  # open and scheduled together
ORDERS_ACTIVE_MAX = market_limits.orders_per_interval_max - 1  # one slot is the cluster's surplus offer
SCHEDULE_AHEAD_S_MAX = 30 * 24 * 3600  # scheduled trades: up to 30 days ahead
BULK_ORDERS_MAX = 50  # "up to 50 trades" in one request
BULK_PURCHASES_MAX = 30  # "up to 30 cluster purchases" in one request

# Prepaid: one purchase is 1 Wh .. 1 MWh. OpenPAYGO standard tokens carry 0..995 units; a unit is 100 Wh.
PREPAID_WH_MAX = 1_000_000
OPENPAYGO_WH_PER_UNIT = 100
OPENPAYGO_UNITS_MAX = 995

# Settlement: intervals settled by one catch-up call (a gateway that was off for a week catches up in one go).
CATCH_UP_INTERVALS_MAX = 7 * 96
# Listing endpoints return at most this many rows.
PAGE_MAX = 1_000

invariant(0 < CONTRIBUTION_NGWEE_MIN <= CONTRIBUTION_NGWEE_MAX, "contribution bounds are ordered")
invariant(
    CONTRIBUTION_NGWEE_MAX * CONTRIBUTIONS_PER_MEMBER_MAX <= market_limits.share_max,
    "a member's share (its contributions) fits the market's share bound",
)
invariant(MEMBERS_MAX <= market_limits.cluster_members_max, "every member fits one distribution")
invariant(ORDER_WH_MAX <= market_limits.energy_wh_per_interval_max, "an order fits the market's energy bound")
invariant(ORDER_PRICE_NGWEE_PER_KWH_MAX * ORDER_WH_MAX // 1000 < AMOUNT_MAX, "an order's cost fits one transfer")
invariant(ORDERS_ACTIVE_MAX + 1 <= market_limits.orders_per_interval_max, "the order book fits one auction")
invariant(PREPAID_WH_MAX <= CREDIT_WH_MAX, "a purchase fits one credit grant")
invariant(OPENPAYGO_UNITS_MAX * OPENPAYGO_WH_PER_UNIT <= PREPAID_WH_MAX, "a token's credit is a valid purchase")
invariant(MOBILE_MONEY_NGWEE_MAX < AMOUNT_MAX, "a deposit fits one transfer")
invariant(INTERVAL_S % 60 == 0 and 3600 * 24 % INTERVAL_S == 0, "intervals tile the day in whole minutes")
invariant(SCHEDULE_AHEAD_S_MAX // INTERVAL_S <= CATCH_UP_INTERVALS_MAX * 5, "schedules stay within reach")
