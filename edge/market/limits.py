"""Upper bounds for the market's pure computations, and the relations between them (checked at import).

Every loop in `edge.market` runs over members, orders or price history, so these bounds are the bounds of
every loop. Inputs beyond them are programmer errors (the settlement that builds the snapshot is wrong),
reported with `invariant()`.
"""

from enerlectra.invariant import invariant

# A cluster is 10–100 households in the seeds; the gateway is sized (and benchmarked) for 10,000.
cluster_members_max = 10_000

# Each member may have one buy and one sell order per interval, plus the cluster's own surplus offer.
orders_per_interval_max = 2 * cluster_members_max + 1

# 10 MWh in one 15-minute interval is a 40 MW plant: above any cluster in the seeds (industrial clusters
# are "small solar farms"); anything larger is a unit mistake (W for Wh, Wh for mWh).
energy_wh_per_interval_max = 10_000_000

# Contribution shares are ngwee contributed (2,000–5,000 ZMW per member in the seeds); 10^13 ngwee is
# 100 billion ZMW, far above any cooperative, and keeps every product below 2^128.
share_max = 10**13

# 1,000 ZMW per kWh: no tariff is anywhere near it; a larger number is a unit mistake.
price_ngwee_per_kwh_max = 100_000

# One year of 15-minute intervals.
price_history_max = 96 * 366

# Basis points: 10,000 bp = 1.
basis_points_one = 10_000

invariant(orders_per_interval_max > 2 * cluster_members_max, "room for a buy, a sell per member and the cluster")
invariant(energy_wh_per_interval_max * cluster_members_max < 2**63, "cluster totals fit a signed 64-bit column")
invariant(
    energy_wh_per_interval_max * orders_per_interval_max * price_ngwee_per_kwh_max < 2**63,
    "an interval's whole trade value in milli-ngwee fits a signed 64-bit column",
)
invariant(share_max * cluster_members_max * energy_wh_per_interval_max < 2**128, "allocation products stay bounded")
